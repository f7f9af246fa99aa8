"""One call of particle and saddle per backend and composition, for frameworks too slow for `compare`'s rounds.

    python tools/nested_times.py                            # light constants, every backend and composition
    python tools/nested_times.py --workload gradbench --backends torch --modes reverse-over-reverse

`adbench compare --problems particle,saddle` measures them properly (rounds, intervals, the gate), but an
eager framework takes tens of seconds per call at gradbench's workload, past compare's --timeout with
its samples. This times single calls in this process, each case after one warm-up call of its backend and
composition on the light constants (``Problem.extra["light"]``: the framework's start-up), with the same
backends, ``ad`` services and checks against the references, and prints a markdown table. The first call
of a freshly prepared case includes a JIT's trace and compile (jax's jit prepares a new program per case);
the second call, made where the first took under --second-under seconds, is the steady state. Quote its
figures with the command and the machine state.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from adbench.backends import NESTED, backend_names, get_backend
    from adbench.engine.confusion import confusion
    from adbench.problems import get_problem

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="particle,saddle")
    parser.add_argument("--backends", default=",".join(b for b in backend_names() if get_backend(b).modes_for(NESTED)))
    parser.add_argument("--modes", default=None, help="compositions (default: each backend's)")
    parser.add_argument("--workload", default="light", choices=("light", "gradbench"))
    parser.add_argument("--dtype", default="float64")
    parser.add_argument(
        "--second-under",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="call a case a second time where its first call took less (default 10)",
    )
    args = parser.parse_args(argv)
    print(
        "| problem | workload | backend | mode | first call | second call | max error / max |reference| "
        "| perturbation probe |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.problems.split(","):
        problem = get_problem(name)
        x = problem.inputs(problem.sizes[0])
        light = problem.extra.get("light", {})
        constants = problem.constants(x, **(light if args.workload == "light" else {}))
        ref = problem.reference_nested(x, **constants)
        for backend in args.backends.split(","):
            b = get_backend(backend)
            b.load(1)
            for mode in args.modes.split(",") if args.modes else b.modes_for(NESTED):
                if mode not in b.modes_for(NESTED):
                    continue
                try:
                    probe = confusion(b, mode, args.dtype) if mode != "manual" else None
                    b.prepare(problem, x, NESTED, mode, args.dtype, problem.constants(x, **light)).run()  # warm-up
                    case = b.prepare(problem, x, NESTED, mode, args.dtype, constants)
                    start = time.perf_counter()
                    out = case.run()
                    seconds = time.perf_counter() - start
                    second = None
                    if seconds < args.second_under:
                        start = time.perf_counter()
                        case.run()
                        second = time.perf_counter() - start
                except Exception as error:  # noqa: BLE001 (one failing case never loses the others: an error row)
                    print(
                        f"| {name} | {args.workload} | {backend} | {mode} | error: "
                        f"{type(error).__name__}: {str(error)[:100]} | | | |",
                        flush=True,
                    )
                    continue
                err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
                print(
                    f"| {name} | {args.workload} | {backend} | {mode} | {_seconds(seconds)} | "
                    f"{_seconds(second) if second is not None else '-'} | {err:.1e} | "
                    f"{'1' if probe is None and mode != 'manual' else (probe or 'n/a')} |",
                    flush=True,
                )
    return 0


def _seconds(s: float) -> str:
    return f"{s:.3g} s" if s >= 1 else f"{s * 1e3:.3g} ms"


if __name__ == "__main__":
    sys.exit(main())
