"""``python -m adbench``: the command line (see adbench.cli)."""

import sys

from adbench.cli import main

sys.exit(main())
