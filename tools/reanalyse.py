"""Recompute a result set's statistics from its visits with this adbench (nothing is timed).

    python tools/reanalyse.py results/compare-x.csv /tmp/compare-x.csv
    # another per-visit statistic:
    python tools/reanalyse.py --statistic min results/compare-x.csv /tmp/compare-x-min.csv
    python tools/reanalyse.py --in-place results/reference/*.csv   # replaces each set (it stays in git history)

Only sets of the current format (version 3) keep their visits; older ones are read as they were
written (``adbench.engine.results.migrate``) and refused here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adbench.engine.results import reanalyse, sidecar_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path, help="result-set CSVs (then a target, without --in-place)")
    parser.add_argument("--in-place", action="store_true", help="replace each set by its re-analysis")
    parser.add_argument("--statistic", help="per-visit statistic: median, min or q25 (default: the set's own)")
    args = parser.parse_args()
    if not args.in_place:
        if len(args.sets) != 2:
            parser.error("give a source and a target CSV, or --in-place and the sets")
        source, target = args.sets
        print(reanalyse(source, target, statistic=args.statistic))
        return 0
    for source in args.sets:
        with tempfile.TemporaryDirectory(dir=source.parent) as tmp:
            done = reanalyse(source, Path(tmp) / source.name, statistic=args.statistic)
            os.replace(sidecar_path(done), sidecar_path(source))
            os.replace(done, source)
        print(f"re-analysed {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
