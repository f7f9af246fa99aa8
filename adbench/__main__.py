"""``python -m adbench``: the command line (see adbench.cli)."""

import sys

try:
    from adbench.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing the CLI
    sys.exit(130)

sys.exit(main())
