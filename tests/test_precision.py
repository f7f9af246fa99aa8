"""JAX float32 cases stay float32 all the way through: the traced program of every problem's f and of every
operation and mode the jax backend offers holds no float64 value, with x64 switched on so that any promotion
(a float64 constant, a strongly typed NumPy scalar, a float64 default dtype) would show."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_backend

from adbench.backends import NESTED, SECOND_ORDER, SPARSE, get_backend
from adbench.engine.cases import direction
from adbench.problems import list_problems

PROBLEMS = [p for p in list_problems() if p.builtin]
SMALL = {p.name: min(p.presets) if p.presets else 5 for p in PROBLEMS}
CASES = [
    (p.name, op, m, chunk)
    for p in PROBLEMS
    for op, modes in get_backend("jax").operations.items()
    for m in modes
    for chunk in ((None, 2) if op == "jacobian" else (None,))
    if (op not in SECOND_ORDER or p.is_scalar(SMALL[p.name]))
    and (op != SPARSE or p.sparsity is not None)
    and (op == NESTED) == p.nested
]


@pytest.fixture(scope="module")
def jax():
    require_backend("jax")
    import jax

    jax.config.update("jax_enable_x64", True)  # as after any float64 case in the same process
    return jax


@pytest.mark.parametrize(
    "problem,operation,mode,chunk", CASES, ids=[f"{p}-{op}-{m}" + (f"-chunk{c}" if c else "") for p, op, m, c in CASES]
)
def test_float32_program_has_no_float64(jax, problem, operation, mode, chunk):
    backend = get_backend("jax")
    prob = next(p for p in PROBLEMS if p.name == problem)
    n = SMALL[problem]
    x = prob.inputs(n)
    d = direction(prob, operation, n, prob.n_outputs(n), seed=0)
    op, op_args, f, f_args = backend.program(
        prob, x, operation, mode, "float32", prob.constants(x), d, chunk_size=chunk
    )
    # A nested case has no separate f: its op is f, differentiating inside itself.
    programs = ([] if f is None else [("f", f, f_args)]) + [(operation, op, op_args)]
    for what, traced in ((what, jax.make_jaxpr(fn)(*args)) for what, fn, args in programs):
        text = str(traced)
        assert "f64" not in text, (
            f"{what}: float64 in the traced program:\n"
            + "\n".join(line for line in text.splitlines() if "f64" in line)[:2000]
        )
    assert traced.out_avals[0].dtype == np.float32


def test_the_check_catches_a_promotion(jax):
    """A strongly typed float64 NumPy scalar in a float32 program is the promotion the test exists to catch."""
    import jax.numpy as jnp

    text = str(jax.make_jaxpr(lambda v: jnp.sum(v * np.float64(2.0)))(jnp.ones(3, jnp.float32)))
    assert "f64" in text
