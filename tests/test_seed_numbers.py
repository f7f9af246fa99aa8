"""The tutorial's printed numbers, reproduced from its own inputs (jax.random.PRNGKey(42) and (1234))."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import backend_modes, require_backend

import adbench
from adbench.problems import get_problem

# torch-compile crashes the process on some forward-mode cases (tests/test_variants.py runs it in
# workers, where a crash is a recorded error) and compiles for seconds per case.
AD_CASES = [(b, m) for b, m in backend_modes() if m in ("forward", "reverse") and b != "torch-compile"]
IDS = [f"{b}-{m}" for b, m in AD_CASES]

# "jacfwd(f)(jnp.array([1, 0.5]))" as printed (float32).
BASIC_J = np.array([[-0.8322937, 2.6645875], [2.0, -1.0], [3.0, 0.0]])

# "print(J)" for loss at n = 10 000: its first and last three entries.
LOSS_HEAD = np.array([-0.00112947, 0.01864054, 0.0117998])
LOSS_TAIL = np.array([-0.01512874, -0.02109648, -0.01740325])

CONTROL_LOOP_F = 33.790833
CONTROL_LOOP_J = np.array(
    [
        9.14219797e-01,
        1.54198611e00,
        -1.54022560e-01,
        1.28125024e00,
        -1.06963313e00,
        1.41801819e-01,
        1.32393825e00,
        -1.08029068e-01,
        -2.01322168e-01,
        7.39066958e-01,
        1.55481815e00,
        2.13262364e-01,
        7.93227702e-02,
        1.38910860e-02,
        -1.21067815e-01,
        -2.39411616e00,
        -5.80047350e-03,
        7.46430131e-03,
        1.09903216e-02,
        1.23930001e00,
        3.33788633e00,
        1.23865539e-04,
        2.95916528e-01,
        4.19792563e-01,
        2.75377621e-04,
        -3.64146411e-01,
        1.39376473e00,
        -1.05361438e00,
        -3.64593752e-02,
        6.60361871e-02,
        8.11212718e-01,
        -2.80359697e00,
        4.31727380e-01,
        7.41075158e-01,
        1.13879979e00,
        -2.50400219e-04,
        -2.73637772e00,
        2.62407839e-01,
        2.75387573e00,
        1.89503059e-01,
        4.25044820e-02,
        1.70111430e00,
        -7.05717206e-01,
        -1.05721414e00,
        -8.64632353e-02,
        -9.74199712e-01,
        2.29958575e-02,
        2.32612395e00,
        1.27304599e-01,
        -9.37167764e-01,
        -3.26535940e00,
        -6.87842488e-01,
        -1.80836034e00,
        1.53212297e00,
        3.10942113e-01,
        3.40831243e-02,
        2.66577810e-01,
        -2.80669713e00,
        3.78264618e00,
        1.39550459e00,
        8.64577770e-01,
        -1.54589021e00,
        4.69316356e-03,
        -4.76004314e00,
        1.27595150e00,
        7.95055568e-01,
        -5.48990011e-01,
        2.21338272e00,
        -2.89355803e00,
        -8.49291608e-02,
        1.24590242e00,
        -1.40686893e00,
        2.06369385e-02,
        4.42322403e-01,
        3.01030427e-02,
        -8.12745478e-04,
        -2.86575755e-06,
        -1.53197777e00,
        -1.26122987e00,
        -3.50974655e00,
        2.20662117e-01,
        2.29297191e-01,
        -1.32497787e00,
        1.31583583e00,
        1.28999364e00,
        -2.41961493e-03,
        5.28108299e-01,
        9.57041860e-01,
        -8.39974359e-02,
        -1.60423791e00,
        -1.59235686e-01,
        1.62865722e00,
        1.21260905e00,
        -6.51759235e-03,
        -9.24389601e-01,
        -5.34576876e-03,
        1.41070215e-02,
        7.33746052e-01,
        2.06736708e00,
        2.36598169e-03,
    ]
)


def document_normal(key: int, n: int) -> np.ndarray:
    """random.normal(random.PRNGKey(key), n) as the tutorial draws it (needs jax)."""
    require_backend("jax")
    import jax.numpy as jnp
    from jax import random

    # float32 explicitly: once a float64 case has switched JAX's x64 on, the default would draw
    # float64 numbers from a different stream.
    return np.asarray(random.normal(random.PRNGKey(key), n, dtype=jnp.float32))


def test_manual_basic_at_document_point():
    x = get_problem("basic").inputs(2)
    np.testing.assert_array_equal(x, [1.0, 0.5])
    # Printed with 8 significant digits.
    np.testing.assert_allclose(adbench.jacobian("basic", x, backend="manual"), BASIC_J, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("backend,mode", AD_CASES, ids=IDS)
def test_basic_jacobian(backend, mode):
    require_backend(backend)
    J = adbench.jacobian("basic", np.array([1, 0.5], np.float32), backend=backend, mode=mode)
    # float32 results printed to 8 digits: agreement to a couple of float32 ulps.
    np.testing.assert_allclose(J, BASIC_J, rtol=3e-7, atol=1e-7)


@pytest.mark.parametrize("backend,mode", AD_CASES, ids=IDS)
def test_loss_gradient_entries(backend, mode):
    require_backend(backend)
    x_star, x = document_normal(42, 10_000), document_normal(1234, 10_000)
    J = adbench.jacobian("loss", x, backend=backend, mode=mode, x_star=x_star)
    # A float32 dot product of 10 000 terms rounds differently with the summation order:
    # the tutorial's own jacfwd and jacrev differ in the 7th digit, and JAX 0.10's jacrev
    # differs from the printed value by 4e-5 relative. sin(exp(.)) passes that on, so 2e-4.
    np.testing.assert_allclose(J[:3], LOSS_HEAD, rtol=2e-4)
    np.testing.assert_allclose(J[-3:], LOSS_TAIL, rtol=2e-4)


def test_loss_printed_entries_are_the_exact_gradient():
    """The printed entries are the float64 gradient at the tutorial's float32 inputs, to 1e-4."""
    x_star, x = document_normal(42, 10_000), document_normal(1234, 10_000)
    J = adbench.jacobian("loss", x.astype(np.float64), backend="manual", x_star=x_star.astype(np.float64))
    np.testing.assert_allclose(J[:3], LOSS_HEAD, rtol=1e-4)
    np.testing.assert_allclose(J[-3:], LOSS_TAIL, rtol=1e-4)


def test_control_loop_value():
    import numpy as np_

    z = document_normal(1234, 100)
    problem = get_problem("control_loop")
    f = problem.function(z, np_, **problem.constants(z))
    assert problem.constants(z)["k"] == 2
    assert f == pytest.approx(CONTROL_LOOP_F, rel=1e-6)


@pytest.mark.parametrize("backend,mode", AD_CASES + [("manual", "manual")], ids=IDS + ["manual"])
def test_control_loop_jacobian(backend, mode):
    require_backend(backend)
    z = document_normal(1234, 100)
    J = adbench.jacobian("control_loop", z, backend=backend, mode=mode)
    # Printed to 9 digits from float32: a few ulps of the largest entries (|J| <= 4.8).
    np.testing.assert_allclose(J, CONTROL_LOOP_J, rtol=1e-5, atol=2e-6)
