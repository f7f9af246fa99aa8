"""``python -m adbench``: the command line (see adbench.cli)."""

import signal
import sys

try:
    from adbench.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing the CLI
    sys.exit(128 + signal.SIGINT)  # the CLI's EXIT_INTERRUPTED, which could not be imported

try:
    code = main()
finally:
    # The work is done and saved: a Ctrl-C or SIGTERM while Python exits must not kill the process by the
    # signal (exit -2 instead of main's status). Here only, in the process that ends now: an ignored
    # signal is inherited by the children of whoever calls adbench.cli.main in-process.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
sys.exit(code)
