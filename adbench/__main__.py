"""``python -m adbench``: the command line (see adbench.cli)."""

import sys

interrupted: list[int] = []  # a SIGINT seen while the CLI is imported (adbench.cli._note_interrupt says why)
try:
    import signal  # inside: a Ctrl-C while it is imported ends as quietly as one in the CLI's imports

    def note_interrupt(signum: int, frame: object) -> None:
        interrupted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, note_interrupt)
    from adbench.cli import main

    signal.signal(signal.SIGINT, signal.default_int_handler)  # the CLI installs what it needs
except KeyboardInterrupt:  # Ctrl-C while Python is still importing the CLI
    sys.exit(130)  # the CLI's EXIT_INTERRUPTED (128 + SIGINT), which could not be imported
except ImportError:
    if interrupted:  # a Ctrl-C inside an extension module's import surfaces as its ImportError
        sys.exit(130)
    raise

try:
    code = main()
finally:
    # The work is done and saved: a Ctrl-C or SIGTERM while Python exits must not kill the process by the
    # signal (exit -2 instead of main's status). Here only, in the process that ends now: an ignored
    # signal is inherited by the children of whoever calls adbench.cli.main in-process.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
sys.exit(code)
