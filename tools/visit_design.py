"""How much the visit's design moves a close ratio: JAX's two HVP compositions timed as the engine visits them, and
with their samples interleaved, in one process on one CPU.

The engine's visit (``adbench.engine.cases.visit``) is a warm-up, a few calibrated samples of the operation, then
f's; the cases of a group are visited one after another. Interleaving the two cases' samples (A B A B ..., each
after one untimed call of its own) matches them closer in time. Both are fair; if they disagree by more than the
±5 % tie margin, a gap smaller than that is a property of the design as much as of the two programs, and the
first screen's "≤N% apart" is the honest answer for it. Prints, per problem, each design's ratio (geometric mean of
the per-round ratios of the visits' fastest samples) with its standard error, the per-round spread, and the
designs' difference with its standard error (rounds are paired: both designs run in each round).

    python tools/visit_design.py [--rounds 150] [--problems gmm,lstm,mlp]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics

from adbench.engine.cases import CaseSpec, first_build, visit
from adbench.engine.timing import time_block

SIZES = {"gmm": 30, "lstm": 154, "mlp": 298, "loss": 10000, "control_loop": 100}
SAMPLES = 3  # a visit's samples of a fast case (adbench.engine.case_state)
WARM_CALLS = 20  # about the engine's 2 ms warm-up for a call of ~60-300 µs


def one_problem(problem: str, rounds: int) -> dict[str, float]:
    """The two designs' log-ratios (forward-over-reverse over reverse-over-reverse), ``rounds`` of each."""
    built = []
    for mode in ("forward-over-reverse", "reverse-over-reverse"):
        answer, prepared = first_build(CaseSpec(problem, SIZES[problem], "jax", mode, operation="hvp"))
        assert prepared is not None, f"{problem} {mode}: {answer}"
        built.append((prepared, answer["number"], answer["f_number"]))
    (a, na, fa), (b, nb, fb) = built
    engine, interleaved = [], []
    for _ in range(rounds):
        op_a, _ = visit(a, na, fa, SAMPLES, 2, WARM_CALLS, WARM_CALLS // 2)
        op_b, _ = visit(b, nb, fb, SAMPLES, 2, WARM_CALLS, WARM_CALLS // 2)
        engine.append(math.log(min(op_a) / min(op_b)))
        for _ in range(WARM_CALLS):
            a.call()
            b.call()
        sa, sb = [], []
        for _ in range(SAMPLES):
            a.call()  # one untimed call of its own first: neither is timed straight after the other
            sa.append(time_block(a.call, a.sync, na))
            b.call()
            sb.append(time_block(b.call, b.sync, nb))
        interleaved.append(math.log(min(sa) / min(sb)))
    diff = [x - y for x, y in zip(engine, interleaved, strict=True)]
    se = lambda v: statistics.stdev(v) / math.sqrt(len(v))  # noqa: E731
    return {
        "engine": math.exp(statistics.fmean(engine)),
        "engine se %": 100 * se(engine),
        "engine sd/round %": 100 * statistics.stdev(engine),
        "interleaved": math.exp(statistics.fmean(interleaved)),
        "interleaved se %": 100 * se(interleaved),
        "interleaved sd/round %": 100 * statistics.stdev(interleaved),
        "difference %": 100 * (math.exp(statistics.fmean(diff)) - 1),
        "difference se %": 100 * se(diff),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=150, help="rounds per problem (150)")
    parser.add_argument("--problems", default="gmm,lstm,mlp", help=f"of {', '.join(SIZES)} (gmm,lstm,mlp)")
    args = parser.parse_args()
    problems = args.problems.split(",")
    bad = [p for p in problems if p not in SIZES]
    if bad:
        parser.error(f"unknown problem {bad[0]!r}; valid: {', '.join(SIZES)}")
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one CPU, as the engine's visits
    print("JAX HVP, forward-over-reverse / reverse-over-reverse, two visit designs (tools/visit_design.py)")
    for problem in problems:
        r = one_problem(problem, args.rounds)
        print(
            f"{problem:>12} n={SIZES[problem]}: engine {r['engine']:.3f} (se {r['engine se %']:.1f} %, "
            f"{r['engine sd/round %']:.0f} % a round); interleaved {r['interleaved']:.3f} "
            f"(se {r['interleaved se %']:.1f} %, {r['interleaved sd/round %']:.0f} % a round); "
            f"designs differ {r['difference %']:+.1f} % (se {r['difference se %']:.1f} %)"
        )


if __name__ == "__main__":
    main()
