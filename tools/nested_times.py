"""One call of particle and saddle per backend and composition, for frameworks too slow for `compare`'s rounds.

    python tools/nested_times.py                            # light constants, every backend and composition
    python tools/nested_times.py --workload gradbench --backends torch --modes reverse-over-reverse

`adbench compare --problems particle,saddle` measures them properly (rounds, intervals, the gate), but an
eager framework takes tens of seconds per call at gradbench's workload, past compare's --timeout with
its samples. This times single calls in this process, each after one warm-up call of the same case on
the light constants (``Problem.extra["light"]``), with the same backends, ``ad`` services and checks
against the references, and prints a markdown table. Quote its figures with the command and the
machine state.
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
    args = parser.parse_args(argv)
    print("| problem | workload | backend | mode | one call | |result - reference| / |reference| | perturbation probe |")
    print("|---|---|---|---|---|---|---|")
    for name in args.problems.split(","):
        problem = get_problem(name)
        x = problem.inputs(problem.sizes[0])
        light = problem.extra.get("light", {})
        constants = problem.constants(x, **(light if args.workload == "light" else {}))
        ref = problem.reference_nested(x, **constants)
        for backend in args.backends.split(","):
            b = get_backend(backend)
            b.load(1)
            for mode in (args.modes.split(",") if args.modes else b.modes_for(NESTED)):
                if mode not in b.modes_for(NESTED):
                    continue
                probe = confusion(b, mode, args.dtype) if mode != "manual" else None
                b.prepare(problem, x, NESTED, mode, args.dtype, problem.constants(x, **light)).run()  # warm-up
                case = b.prepare(problem, x, NESTED, mode, args.dtype, constants)
                start = time.perf_counter()
                out = case.run()
                seconds = time.perf_counter() - start
                err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
                print(f"| {name} | {args.workload} | {backend} | {mode} | {_seconds(seconds)} | {err:.1e} | "
                      f"{'1' if probe is None and mode != 'manual' else (probe or 'n/a')} |", flush=True)
    return 0


def _seconds(s: float) -> str:
    return f"{s:.3g} s" if s >= 1 else f"{s * 1e3:.3g} ms"


if __name__ == "__main__":
    sys.exit(main())
