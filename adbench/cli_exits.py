"""The command line's exit statuses, and the usage error that ends a command with status 2."""

from __future__ import annotations

import signal

EXIT_OK, EXIT_CASE_FAILED, EXIT_USAGE = 0, 1, 2
# A shell's status for a process ended by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM
EXIT_CODES = (
    f"exit codes: {EXIT_OK} the run finished and no case failed by --fail-on (known framework defects are "
    f"findings, not failures); {EXIT_CASE_FAILED} a case failed by --fail-on, or the results could not be "
    f"saved; {EXIT_USAGE} bad arguments, or your function failed its NumPy trial; {EXIT_INTERRUPTED} "
    f"interrupted (Ctrl-C); {EXIT_TERMINATED} terminated (SIGTERM). Finished cases are saved in every case. "
    "See docs/compare.md."
)


class UsageError(ValueError):
    """Bad command-line input: exit status 2, with a message that names the flag and the valid choices."""


__all__ = [
    "EXIT_CASE_FAILED",
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "UsageError",
]
