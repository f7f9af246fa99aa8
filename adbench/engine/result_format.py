"""The results format's name, its versions (written, readable, keeping visits), and its errors."""

from __future__ import annotations

FORMAT_NAME = "adbench-results"
# 2: run_id, operation, intervals, correctness and memory columns. 3: visits instead of rounds (the
# sidecar keeps every visit, the run's variance components and its paired comparisons), the headline
# time_s with its log standard error, replicates, the compile-timeout status. 4: the host column (a
# cluster run or a merged set holds several hosts) and the sidecar's ``hosts``, each host's environment.
# 5: first_call_cache (JAX keeps its compilations between runs: a first call says if it compiled or loaded).
FORMAT_VERSION = 5
READABLE_VERSIONS = (1, 2, 3, 4, 5)
VISIT_VERSIONS = (3, 4, 5)  # the versions whose sidecar keeps every visit
# The columns every readable version has.
KEY_COLUMNS = ("problem", "size", "backend", "mode", "status", "median_s")


class ResultsFormatError(ValueError):
    """A file that is not an adbench result set of a version this adbench can read."""


class DamagedResultsError(ResultsFormatError):
    """An adbench result set whose files are truncated, edited or do not belong together."""
