"""TensorFlow's loop service measured: lstm's gradient and ode's reverse Jacobian (first call = trace (+ XLA
compile), then the median of 20 calls, float64) with the sequence as a Python loop (unrolled into the graph), a
``tf.while_loop`` with ``maximum_iterations`` (the service) and a ``tf.foldl`` over ``tf.range(k)``.

    flock -x /tmp/adbench-cpu.lock python tools/tf_loop.py [--adbench-lstm]

``--adbench-lstm`` adds ADBench's lstm l=2, c=1024 gradient (microsoft/ADBench data, read from
/work/shared/reference when present) with the service only (the unrolled trace took 446 s here).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from adbench.backends import get_backend
from adbench.problems import get_problem
from adbench.services import python_loop


def tf_foldl(step, init, k):
    import tensorflow as tf

    return tf.foldl(lambda carry, i: step(i, carry), tf.range(k), initializer=init)


def measure(backend: str, problem: str, x, consts, loop, operation="jacobian", mode="reverse", repeats=20):
    be = get_backend(backend)
    services = be.services
    if loop is not None:
        be.services = lambda: {**services(), "loop": loop}  # this process only: the variant under test
    try:
        case = be.prepare(get_problem(problem), x, operation, mode, "float64", consts)
    finally:
        be.services = services
    t0 = time.perf_counter()
    case.run()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        case.run()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adbench-lstm", action="store_true")
    args = parser.parse_args()
    variants = {"python loop (unrolled)": python_loop, "tf.while_loop (service)": None, "tf.foldl": tf_foldl}
    print(f"{'backend':15} {'case':32} {'loop':24} {'first call s':>12} {'median ms':>10} {'min-max ms':>16}")
    # lstm at its l=1, c=4 preset and at l=2 with the first 16 and 64 symbols of its c=1024 sequence; ode's steps = 10.
    cases = [("lstm", 154, None), ("lstm", 266, 17), ("lstm", 266, 65), ("ode", 10, None), ("ode", 100, None)]
    for problem, n, symbols in cases:
        prob = get_problem(problem)
        x = prob.inputs(n)
        consts = prob.constants(x)
        if symbols:
            consts["sequence"] = consts["sequence"][:symbols]
        c = consts["sequence"].shape[0] - 1 if problem == "lstm" else consts["steps"]
        for backend in ("tensorflow", "tensorflow-xla"):
            if get_backend(backend).unrolls("jacobian", "reverse", prob.is_scalar(n)):
                print(
                    f"{backend:15} {problem} n={n}: its loops are unrolled whatever the service "
                    "(TensorflowBackend.unrolls)"
                )
                continue
            for name, loop in variants.items():
                if loop is python_loop and backend == "tensorflow-xla" and c > 16:
                    continue  # XLA's compile of the unrolled loop grows faster than linearly (JAX: 62 s at c = 32)
                first, med, lo, hi = measure(backend, problem, x, consts, loop)
                print(
                    f"{backend:15} {f'{problem} n={n} k={c} reverse J':32} {name:24} {first:12.2f} "
                    f"{med * 1e3:10.2f} {lo * 1e3:7.2f}-{hi * 1e3:<8.2f}",
                    flush=True,
                )
    if args.adbench_lstm:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from test_workloads import lstm_reference

        x, consts, _, _ = lstm_reference()
        for backend in ("tensorflow", "tensorflow-xla"):
            first, med, lo, hi = measure(backend, "lstm", x, consts, None, repeats=5)
            print(
                f"{backend:15} {'ADBench lstm l=2 c=1024 reverse J':32} {'tf.while_loop (service)':24} {first:12.2f} "
                f"{med * 1e3:10.2f} {lo * 1e3:7.2f}-{hi * 1e3:<8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
