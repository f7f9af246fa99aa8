"""The float64 reference of an evaluate message, in the eval's own output layout, and its distance to an answer.

The reference runs the same plan (``adbench.gradbench.evals``) with the problems' own references instead of a
backend: f in NumPy, the hand-written (or complex-step) derivatives through ``adbench.engine.checking``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adbench.backends import Direction
from adbench.gradbench.evals import FUNCTION, plan


def step_reference(step: Any) -> Any:
    """One step's float64 result: f in NumPy, or the operation's reference (the correctness gate's)."""
    from adbench.engine.checking import FD_REFERENCE_MAX_ENTRIES, reference

    problem, x = step.problem, np.asarray(step.x, np.float64)
    constants = problem.constants(x, **step.constants)
    if step.operation == FUNCTION:
        return np.asarray(problem.function(x, np, **constants), np.float64)
    ref, kind = reference(
        problem, step.operation, x, constants, step.direction or Direction(), FD_REFERENCE_MAX_ENTRIES
    )
    if ref is None or kind != "exact":
        raise ValueError(f"{problem.name} has no exact float64 reference for {step.operation}")
    return ref


def reference_output(module: str, function: str, input: Any) -> Any:
    """The eval's output for ``input``, computed in float64 from the problems' references."""
    p = plan(module, function, input)
    return p.output([step_reference(step) for step in p.steps])


def leaves(value: Any, path: str = "") -> dict[str, np.ndarray]:
    """Every array of numbers in a JSON output, by its path (``vals``, ``reproj_error.elements``)."""
    if isinstance(value, dict):
        out: dict[str, np.ndarray] = {}
        for key in sorted(value):
            out.update(leaves(value[key], f"{path}.{key}" if path else key))
        return out
    return {path or "output": np.asarray(value, dtype=np.float64)}


def max_relative_error(output: Any, ref: Any) -> float:
    """The worst of each part's max |answer - reference| / max |reference| (parts apart, so that the indices of
    a sparse output do not dilute its values' error); inf where the shapes or fields differ."""
    got, want = leaves(output), leaves(ref)
    if got.keys() != want.keys():
        return float("inf")
    worst = 0.0
    for key, r in want.items():
        a = got[key]
        if a.shape != r.shape:
            return float("inf")
        if r.size == 0:
            continue
        scale = float(np.max(np.abs(r))) or 1.0
        worst = max(worst, float(np.max(np.abs(a - r))) / scale)
    return worst
