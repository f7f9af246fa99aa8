"""Services a problem asks for by parameter name (``loop``): the plain-Python default, each backend's own
implementation resolved in one place, and a user's function asking the same way."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import backend_modes, require_backend, require_float64

import adbench
from adbench.backends import backend_names, get_backend
from adbench.backends._base import bind_services
from adbench.problems import get_problem
from adbench.services import python_loop, requested


def test_python_loop_runs_step_k_times_over_any_carry():
    seen = []
    assert python_loop(lambda i, c: seen.append(i) or c + 1, 0, 4) == 4
    assert seen == [0, 1, 2, 3]
    assert python_loop(lambda i, c: c * 2, 3.0, 0) == 3.0, "k = 0 hands init back"
    nested = python_loop(lambda i, c: ((c[0][0] + i,), c[1] * 2), ((0,), 1), 3)
    assert nested == ((3,), 8)


def plain(x, xp):
    return xp.sum(x)


def asks(x, xp, loop=python_loop):
    return loop(lambda i, z: z * 2, x, 1)


def takes_kwargs(x, xp, **constants):
    return xp.sum(x)


def test_a_function_asks_by_parameter_name_only():
    assert requested(asks) == ("loop",)
    assert requested(plain) == ()
    assert requested(takes_kwargs) == (), "**kwargs asks for nothing: it would be surprised by a loop"
    assert bind_services(plain, {"loop": None}) is plain
    bound = bind_services(asks, {"loop": lambda step, init, k: "backend's"})
    assert bound(np.ones(2), np) == "backend's"


@pytest.mark.parametrize("backend", backend_names())
def test_every_backend_offers_every_service(backend):
    from adbench.services import AD, DEFAULTS

    services = get_backend(backend).services()
    assert set(DEFAULTS) <= set(services)
    assert all(callable(s) for name, s in services.items() if name != "ad")
    assert isinstance(services["ad"], AD), "ad is two levels, each with a grad operator"


def test_jax_gets_a_traced_loop_and_eager_frameworks_the_python_one():
    from adbench.services import python_cond, python_while_loop

    assert get_backend("jax").services()["loop"] is not python_loop
    for name in ("while_loop", "cond"):
        assert get_backend("jax").services()[name] is not {"while_loop": python_while_loop, "cond": python_cond}[name]
    for backend in ("torch", "torch-autograd", "autograd", "manual", "finite-diff"):
        assert get_backend(backend).services()["loop"] is python_loop, backend
    for backend in ("jax-eager", "torch", "torch-autograd", "autograd", "manual", "finite-diff"):
        services = get_backend(backend).services()
        assert services["while_loop"] is python_while_loop and services["cond"] is python_cond, backend


def test_jax_traces_one_step_not_k():
    """The loop service on JAX is a scan in the traced program: ode's 10 RK4 steps and lstm's c - 1 symbols
    appear once, so the program (and XLA's compile) does not grow with the trip count."""
    require_backend("jax")
    import jax
    import jax.numpy as jnp

    from adbench.xp import namespace

    loop = get_backend("jax").services()["loop"]
    for name, n in [("ode", 16), ("lstm", 154)]:
        problem = get_problem(name)
        x = problem.inputs(n)
        consts = problem.constants(x)
        if name == "lstm":
            consts["sequence"] = np.tile(consts["sequence"], (8, 1))  # c = 32 symbols
        arrays = {k: jnp.asarray(v) for k, v in consts.items() if isinstance(v, np.ndarray)}
        static = {k: v for k, v in consts.items() if not isinstance(v, np.ndarray)}
        program = jax.make_jaxpr(lambda v: problem.function(v, namespace("jax"), **arrays, **static, loop=loop))(x)
        text = str(program)
        assert "scan" in text or "while" in text
        unrolled = str(jax.make_jaxpr(lambda v: problem.function(v, namespace("jax"), **arrays, **static))(x))
        assert len(text) * 4 < len(unrolled), f"{name}: the traced program still grows with the trip count"


def user_ode(x, xp, loop=python_loop):
    """A user's f asking for the loop: 20 steps of y <- y + 0.05 sin(x y + 1), carrying y and the running sum."""

    def step(i, carry):
        y, total = carry
        y = y + 0.05 * xp.sin(x * y + 1.0)
        return y, total + y

    _, total = loop(step, (xp.zeros_like(x), xp.zeros_like(x)), 20)
    return total


USER_CASES = [(b, m) for b, m in backend_modes("jacobian") if b not in ("manual", "torch-compile")]


@pytest.mark.parametrize("backend,mode", USER_CASES, ids=[f"{b}-{m}" for b, m in USER_CASES])
def test_user_function_asks_for_the_loop(backend, mode):
    require_float64(backend)
    x = np.linspace(0.2, 1.3, 5)
    J = adbench.jacobian(user_ode, x, backend=backend, mode=mode, dtype="float64")
    ref = adbench.jacobian(user_ode, x, backend="finite-diff", dtype="float64")
    np.testing.assert_allclose(J, ref, rtol=1e-6, atol=1e-8)
