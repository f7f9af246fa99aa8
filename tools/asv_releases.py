"""Two (or more) releases of one framework side by side in asv: a config derived from asv.conf.json.

    python tools/asv_releases.py jax 0.9.2 0.10.2            # writes .asv/releases-jax.json, prints the commands
    python tools/asv_releases.py jax 0.9.2 0.10.2 --table    # after the run: the two releases' figures side by side

The derived config lists the releases in the matrix, so `asv run --config .asv/releases-jax.json` builds one
virtualenv per release (from PyPI; asv.conf.json's other packages as they are) and benchmarks the commit in
each. asv resolves a config's paths from its own folder, so the derived one holds absolute paths; results land
in asv.conf.json's results_dir beside the others, told apart by the environment's name (``-jax0.9.2-``).

``asv compare`` pairs two commits in one environment, so for one commit in two environments ``--table``
reads the saved results with asv's own API (asv.results) and prints, per case, each release's figure and the
ratio new/old.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATH_KEYS = ("repo", "benchmark_dir", "env_dir", "results_dir", "html_dir")


def derived_config(package: str, versions: list[str]) -> Path:
    """Write asv.conf.json with ``package`` at ``versions`` (absolute paths) and return where."""
    from asv.util import load_json

    conf = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    for key in PATH_KEYS:
        conf[key] = str((ROOT / conf[key]).resolve())
    conf["matrix"]["req"][package] = versions
    target = ROOT / ".asv" / f"releases-{package}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(conf, indent=1))
    return target


def side_by_side(package: str, old: str, new: str, commit: str) -> None:
    """Per benchmark and case, the figure in each release's environment and the ratio new/old."""
    from asv.results import iter_results_for_machine_and_hash
    from asv.util import load_json

    conf = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    results_dir = ROOT / conf["results_dir"]
    machines = [p.parent.name for p in results_dir.glob("*/machine.json")]
    for machine in machines:
        runs = {r.env_name: r for r in iter_results_for_machine_and_hash(str(results_dir), machine, commit)}
        pick = {
            v: next((r for n, r in runs.items() if f"-{package}{v}-" in n or n.endswith(f"-{package}{v}")), None)
            for v in (old, new)
        }
        if None in pick.values():
            continue
        print(f"machine {machine}, commit {commit[:8]}: {package} {old} -> {new}")
        for key in sorted(pick[new].get_result_keys(conf_benchmarks(results_dir))):
            params = pick[new].get_result_params(key)
            a_values = pick[old].get_result_value(key, params)
            b_values = pick[new].get_result_value(key, params)
            ratios = []
            for combo, a, b in zip(itertools.product(*params), a_values, b_values):
                if a is None or b is None or math.isnan(a) or math.isnan(b) or a == 0:
                    continue
                ratios.append(b / a)
                print(f"  {key} {' '.join(c.strip(chr(39)) for c in combo)}: {a:.3g} -> {b:.3g}  x{b / a:.2f}")
            if ratios:
                print(
                    f"  {key}: median ratio {statistics.median(ratios):.2f} over {len(ratios)} cases "
                    f"(range {min(ratios):.2f}-{max(ratios):.2f})"
                )


def conf_benchmarks(results_dir: Path) -> dict:
    return json.loads((results_dir / "benchmarks.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", help="a package of asv.conf.json's matrix, e.g. jax")
    parser.add_argument("versions", nargs="+", help="its releases, oldest first (pip index versions PACKAGE)")
    parser.add_argument("--table", action="store_true", help="print the saved results of the first and last")
    parser.add_argument("--commit", default="HEAD", help="the commit benchmarked (default HEAD)")
    opts = parser.parse_args()
    commit = subprocess.check_output(["git", "rev-parse", opts.commit], cwd=ROOT, text=True).strip()
    if opts.table:
        side_by_side(opts.package, opts.versions[0], opts.versions[-1], commit)
        return
    config = derived_config(opts.package, opts.versions)
    print(f"wrote {config.relative_to(ROOT)}; then, for the default tier in each release's environment:")
    print(f"  asv run --config {config.relative_to(ROOT)} {commit[:8]}^!")
    print(f"  python tools/asv_releases.py {opts.package} {' '.join(opts.versions)} --table")


if __name__ == "__main__":
    main()
