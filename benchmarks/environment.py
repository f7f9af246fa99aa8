"""Recorded with every run: the frameworks' versions and the thread count the cases ran with.

asv's results from ``--python=same`` carry no package versions, so they are tracked here (in a
run in asv's own environments the matrix versions are also in the environment's name).
"""

from __future__ import annotations

from benchmarks import THREADS, _common


class Versions:
    params = _common.frameworks()
    param_names = ("framework",)
    unit = "version (major*10000 + minor*100 + patch)"

    def setup(self, framework):
        self.version = _common.version_number(_common.framework_version(framework))

    def track_framework_version(self, framework):
        return self.version


def track_threads():
    return THREADS


track_threads.unit = "threads (ADBENCH_THREADS)"
