"""How the first call (trace + compile + run) of det's gradient grows with l, per backend.

    python tools/det_compile.py                         # l = 3 ... 7; jax, torch-compile, torch, autograd
    python tools/det_compile.py --ells 4,5,6 --backends jax --operation hvp

det by expansion by minors is ~e l! scalar operations, all of which a JIT traces into one program:
this prints, per backend and l, the first call of a freshly built case (each in a fresh process, one
thread, so no earlier compilation is reused) and the median of later calls, as a markdown table.
Quote its figures with the command and the machine state (an exclusive lock on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

TIMEOUT_S = 600.0


def one(backend: str, ell: int, operation: str, dtype: str) -> dict:
    """In this (fresh) process: build the case, time its first call, then its steady state."""
    import numpy as np

    from adbench.backends import get_backend
    from adbench.engine.cases import direction
    from adbench.engine.timing import measure, timed_call
    from adbench.problems import get_problem
    from adbench.problems.det import _operations

    problem = get_problem("det")
    n = ell * ell
    x = np.random.default_rng(ell).random(n)
    mode = "reverse" if operation == "jacobian" else "forward-over-reverse"
    b = get_backend(backend)
    b.load(1)
    b.preload()
    warm = b.prepare(
        problem, np.random.default_rng(0).random(4), operation, mode, dtype, {}, direction(problem, operation, 4, 1, 0)
    )
    timed_call(warm.call, warm.sync)  # the framework's own start-up, on l = 2
    case = b.prepare(problem, x, operation, mode, dtype, {}, direction(problem, operation, n, 1, 0))
    first, out = timed_call(case.call, case.sync)
    steady = measure(case.call, case.sync, budget_s=0.5, min_samples=3)
    ref = problem.reference_jacobian(x) if operation == "jacobian" else None
    error = float(np.max(np.abs(case.to_numpy(out) - ref)) / np.max(np.abs(ref))) if ref is not None else None
    return {
        "backend": backend,
        "l": ell,
        "operations": _operations(ell),
        "first_call_s": first,
        "median_s": steady.median,
        "rel_error": error,
        "call": case.label,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ells", default="3,4,5,6,7")
    parser.add_argument("--backends", default="jax,torch-compile,torch,autograd")
    parser.add_argument("--operation", default="jacobian", choices=("jacobian", "hvp"))
    parser.add_argument("--dtype", default="float32")
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT_S,
        metavar="SECONDS",
        help=f"per backend and l, an error row past it (default {TIMEOUT_S:.0f})",
    )
    parser.add_argument("--one", nargs=2, metavar=("BACKEND", "L"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.operation, args.dtype)))
        return 0

    from adbench.engine.threads import cpus_for, worker_environment
    from adbench.problems.det import _operations

    env = worker_environment(1)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env.get("PYTHONPATH", "")])
    )
    cpus = cpus_for(1)
    rows = []
    for backend in args.backends.split(","):
        for ell in (int(e) for e in args.ells.split(",")):
            command = [
                sys.executable,
                __file__,
                "--one",
                backend,
                str(ell),
                "--operation",
                args.operation,
                "--dtype",
                args.dtype,
            ]
            if cpus and sys.platform.startswith("linux"):
                command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
            try:
                done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
                row = (
                    json.loads(done.stdout.strip().splitlines()[-1])
                    if done.returncode == 0
                    else {"backend": backend, "l": ell, "error": (done.stderr.strip().splitlines() or ["?"])[-1][:120]}
                )
            except subprocess.TimeoutExpired:
                row = {"backend": backend, "l": ell, "error": f"timeout after {args.timeout:g} s"}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print("| backend | l | scalar operations (~e l!) | first call | per call | rel. error |\n|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['backend']} | {r['l']} | {_operations(r['l']):,} | {r['error']} | | |")
        else:
            print(
                f"| {r['backend']} | {r['l']} | {r['operations']:,} | {r['first_call_s']:.3g} s | "
                f"{r['median_s'] * 1e3:.3g} ms | {r['rel_error']:.1e} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
