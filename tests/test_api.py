"""The public API's errors name the valid choices; importing adbench stays light; missing frameworks skip."""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import adbench
from adbench.errors import UnknownChoiceError


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"problem": "nope", "backend": "manual"},
            "unknown problem 'nope'; valid choices: " + ", ".join(sorted(p.name for p in adbench.list_problems())),
        ),
        ({"problem": "loss", "backend": "theano"}, "unknown backend 'theano'; valid choices: autograd, finite-diff"),
        ({"problem": "loss", "backend": "jax", "mode": "sideways"}, "valid choices: forward, reverse"),
        ({"problem": "loss", "backend": "torch-autograd", "mode": "forward"}, "valid choices: reverse"),
        (
            {"problem": "loss", "backend": "manual", "dtype": "float16"},
            "unknown dtype 'float16'; valid choices: float32, float64",
        ),
        (
            {"problem": "loss", "backend": "manual", "y_star": 1},
            "unknown constant of problem 'loss' 'y_star'; valid choices: x_star",
        ),
    ],
    ids=["problem", "backend", "mode", "mode-of-variant", "dtype", "constant"],
)
def test_unknown_names_list_valid_choices(kwargs, message):
    problem = kwargs.pop("problem")
    with pytest.raises(ValueError) as err:
        adbench.jacobian(problem, np.ones(3), **kwargs)
    assert message in str(err.value)
    assert isinstance(err.value, UnknownChoiceError)


@pytest.mark.parametrize(
    "problem,x,message",
    [
        ("basic", np.ones(3), "takes the sizes of its presets only, not 3; valid choices: 2"),
        ("loss", np.ones((2, 2)), "takes a 1-D input vector; got an array of shape (2, 2)"),
        ("loss", np.ones(0), "size must be a positive integer"),
    ],
    ids=["basic-size", "loss-2d", "loss-empty"],
)
def test_wrong_input_shape(problem, x, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        adbench.jacobian(problem, x, backend="manual")


def test_ad_backend_needs_a_mode():
    with pytest.raises(ValueError, match="needs a mode for jacobian: one of forward, reverse"):
        adbench.jacobian("loss", np.ones(3), backend="autograd")


def test_registered_listing():
    assert [p.name for p in adbench.list_problems()][:4] == ["basic", "loss", "control_loop", "tall"]
    assert {"gmm", "lstm", "ode", "mlp"} <= {p.name for p in adbench.list_problems()}
    tall = adbench.get_problem("tall")
    assert tall.n_outputs(5) >= 100 * 5  # m >> n: the problem where forward mode should win
    assert set(adbench.backend_names()) >= {
        "jax",
        "jax-eager",
        "torch",
        "torch-autograd",
        "torch-compile",
        "autograd",
        "tensorflow",
        "tensorflow-xla",
        "mlx",
        "mlx-compile",
        "manual",
        "finite-diff",
    }


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_import_is_light():
    out = run_python("""
        import sys, adbench, adbench.cli, adbench.compare, adbench.engine.runner, adbench.engine.results
        heavy = [m for m in ("jax", "torch", "autograd", "tensorflow", "mlx", "matplotlib", "array_api_compat")
                 if m in sys.modules]
        print(heavy)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_import_adbench_loads_not_even_numpy():
    """The package and its CLI entry point import nothing heavy until a public name is used."""
    out = run_python("""
        import sys, adbench, adbench.cli, adbench.engine.threads, adbench.cluster, adbench.merge
        print(sorted(m for m in ("numpy", "pandas", "jax", "torch", "dask", "distributed") if m in sys.modules))
        adbench.jacobian
        print("numpy" in sys.modules)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True"]


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: adbench.jacobian("loss", np.ones(4), backend="manual", x_star=np.ones(7)),
            r"constant 'x_star' of problem 'loss' must have shape \(4,\) for an input of size 4, not \(7,\)",
        ),
        (lambda: adbench.jacobian("loss", np.ones(4) + 1j, backend="manual"), "x must be real; got complex values"),
        (
            lambda: adbench.jacobian("loss", np.ones(4), backend="manual", x_star=np.ones(4) * 1j),
            "constant 'x_star' of problem 'loss' must be real",
        ),
        (
            lambda: adbench.jacobian("control_loop", np.ones(4), backend="manual", k="three"),
            "constant 'k' of problem 'control_loop' must be a number, not str",
        ),
        (
            lambda: adbench.jacobian("loss", np.ones(4), backend="jax", mode="reverse", chunk_size=0),
            "chunk_size must be a positive integer",
        ),
    ],
    ids=["constant-shape", "complex-x", "complex-constant", "constant-type", "chunk-size"],
)
def test_bad_values_are_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_missing_framework_is_reported_not_raised():
    # sys.modules[name] = None makes "import name" raise ImportError: a machine without torch.
    out = run_python("""
        import sys
        sys.modules["torch"] = None
        import numpy as np, adbench
        info = {b.name: b for b in adbench.list_backends()}
        assert not info["torch"].available and not info["torch-autograd"].available
        assert "import of torch halted" in info["torch"].reason, info["torch"].reason
        assert info["manual"].available
        print(adbench.jacobian("loss", np.ones(4), backend="manual").shape)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(4,)"


def test_user_problem_by_module_path(tmp_path):
    (tmp_path / "myfuncs.py").write_text("def f(x, xp):\n    return xp.sum(xp.sin(x) ** 2)\n")
    x = np.linspace(0, 1, 4)
    J = adbench.jacobian(f"{tmp_path / 'myfuncs.py'}:f", x, backend="finite-diff", dtype="float64")
    np.testing.assert_allclose(J, 2 * np.sin(x) * np.cos(x), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "dtype", ["f4", np.float32, "float32", np.dtype("float32")], ids=["f4", "np-type", "name", "np-dtype"]
)
def test_dtype_spellings(dtype):
    assert adbench.jacobian("loss", np.ones(3), backend="manual", dtype=dtype).dtype == np.float32


def test_user_function_must_return_scalar_or_vector():
    with pytest.raises(ValueError, match=r"returns shape \(\d+, \d+\); a problem maps R\^n to a scalar or a vector"):
        adbench.jacobian(lambda x, xp: xp.outer(x, x), np.ones(3), backend="finite-diff")


def test_unavailable_backend_raises_import_error_with_reason():
    out = run_python("""
        import sys
        sys.modules["jax"] = None
        import numpy as np, adbench
        try:
            adbench.jacobian("loss", np.ones(3), backend="jax", mode="reverse")
        except ImportError as exc:
            print(type(exc).__name__, exc)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("BackendUnavailableError backend 'jax' is unavailable")


def test_git_dirty_tells_an_edited_tree_from_its_commit(tmp_path):
    from adbench.engine.environment import git_dirty

    assert git_dirty(tmp_path) is None, "not a repository"
    run = functools.partial(subprocess.run, cwd=tmp_path, check=True, capture_output=True)
    run(["git", "init", "-q"])
    (tmp_path / "a.py").write_text("x = 1\n")
    run(["git", "add", "a.py"])
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"])
    assert git_dirty(tmp_path) is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_dirty(tmp_path) is True
