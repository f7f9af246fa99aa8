"""Every backend x mode x problem x size x dtype agrees with the hand-written float64 Jacobian."""

from __future__ import annotations

import numpy as np
import pytest

import adbench
from adbench.problems import get_problem, list_problems

from conftest import backend_modes, require_backend

SIZES = {"basic": (2,), "loss": (3, 50), "control_loop": (4, 30), "tall": (1, 3)}

# Tolerances relative to max|J|. float64: a few ulps times the depth of the computation.
# float32 (eps 1.2e-7): control_loop's repeated sin(z^2) and loss's n-term dot product
# amplify rounding by up to ~100x. Finite differences are approximate by construction: their
# error is ~eps^(2/3) (5e-11 in float64, 2.5e-5 in float32) times third derivatives, which
# control_loop makes large.
TOLERANCE = {
    ("float64", False): 1e-12,
    ("float32", False): 2e-5,
    ("float64", True): 1e-6,
    ("float32", True): 2e-2,
}

CASES = [
    (b, m, p.name, n, dtype)
    for b, m in backend_modes()
    for p in list_problems()
    if p.builtin
    for n in SIZES[p.name]
    for dtype in ("float32", "float64")
]


@pytest.mark.parametrize("backend,mode,problem,n,dtype", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_agrees_with_reference(backend, mode, problem, n, dtype):
    require_backend(backend)
    prob = get_problem(problem)
    x = prob.inputs(n, seed=1)
    J = adbench.jacobian(problem, x.astype(dtype), backend=backend, mode=mode)
    ref = prob.reference_jacobian(x, **prob.constants(x))
    assert isinstance(J, np.ndarray)
    assert J.shape == prob.jacobian_shape(n)
    assert J.dtype == np.dtype(dtype), "the requested precision must be the one computed"
    tol = TOLERANCE[(dtype, backend == "finite-diff")]
    err = np.max(np.abs(J - ref)) / np.max(np.abs(ref))
    assert err <= tol, f"max relative error {err:.2e} > {tol:.0e}"


def user_function(x, xp):
    """A user's own f(x, xp): R^n -> R^2, written with the shared operations only."""
    return xp.stack([xp.sum(xp.tanh(x) * x), xp.prod(xp.cos(x))])


def user_jacobian(x):
    t = np.tanh(x)
    row0 = t + x * (1 - t**2)
    row1 = -np.sin(x) * np.array([np.prod(np.cos(np.delete(x, i))) for i in range(x.size)])
    return np.stack([row0, row1])


USER_CASES = [(b, m) for b, m in backend_modes() if b != "manual"]


@pytest.mark.parametrize("backend,mode", USER_CASES, ids=[f"{b}-{m}" for b, m in USER_CASES])
def test_user_function_through_every_backend(backend, mode):
    require_backend(backend)
    x = np.linspace(-0.8, 1.1, 6)
    J = adbench.jacobian(user_function, x, backend=backend, mode=mode, dtype="float64")
    tol = 1e-6 if backend == "finite-diff" else 1e-12
    np.testing.assert_allclose(J, user_jacobian(x), rtol=tol, atol=tol)


def test_manual_backend_refuses_user_function_with_reason():
    with pytest.raises(ValueError, match="no hand-written Jacobian"):
        adbench.jacobian(user_function, np.ones(3), backend="manual")


@pytest.mark.parametrize("backend", ["jax", "jax-eager"])
def test_jax_float32_stays_float32_after_float64(backend):
    """x64 is a process-wide switch in JAX; float32 cases run after it must stay float32."""
    require_backend(backend)
    x = np.linspace(0.1, 1, 5)
    assert adbench.jacobian("loss", x, backend=backend, mode="reverse", dtype="float64").dtype == np.float64
    assert adbench.jacobian("loss", x, backend=backend, mode="reverse", dtype="float32").dtype == np.float32
