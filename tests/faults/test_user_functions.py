"""Fault probes, issue 8 items 1, 7, 10 and 11: a user's function that fails is that case's error, named."""

from __future__ import annotations

from pathlib import Path

import pytest
from faultkit import FAST, adbench, cases, exit_is, last_line, python, read_set, short, statuses, write


@pytest.mark.fault("1")
def test_jax_error_message(tmp_path: Path) -> None:
    """Exit 1; jax rows error 'jax.ConcretizationTypeError: <message>' in CSV and terminal; whole traceback in
    the JSON."""
    tmp = tmp_path
    write(
        tmp,
        "natural.py",
        """
        def f(x, xp):
            return xp.sum(xp.sin(x)) if float(x[0]) > 0 else xp.sum(x)
    """,
    )
    run = adbench(
        tmp,
        "compare",
        "--problem",
        "natural.py:f",
        "--backends",
        "jax,jax-eager,torch",
        "--sizes",
        "10",
        *FAST,
        "--output",
        "out.csv",
    )
    exit_is(run, 1)
    frame, meta = read_set(tmp / "out.csv")
    jax = frame[frame["backend"].isin(["jax", "jax-eager"])]
    errors = set(jax["error"].dropna())
    good = (
        len(jax) == 4
        and (jax["status"] == "error").all()
        and all(e.startswith("jax.ConcretizationTypeError: ") and "For simplicity" not in e for e in errors)
    )
    assert good, f"CSV: {statuses(jax)}; errors {sorted(errors)}"
    assert "ConcretizationTypeError: Abstract tracer" in run.stderr and "For simplicity" not in run.stderr, (
        f"terminal: {short(run.stderr[-300:])}"
    )
    tracebacks = [case.get("traceback") or "" for case in meta["cases"] if case["backend"] in ("jax", "jax-eager")]
    whole = len(tracebacks) == 4 and all(
        "Traceback (most recent call last)" in t and "ConcretizationTypeError" in t for t in tracebacks
    )
    assert whole, "traceback missing from the JSON sidecar"
    assert len(frame[frame["backend"] == "torch"]) == 2, "torch rows missing (the run did not go on)"


@pytest.mark.fault("7")
def test_user_sizes(tmp_path: Path) -> None:
    """f valid for n >= 16 runs at --sizes 16,20,32; its failure at n=20 is that size's error rows; exit 1."""
    tmp = tmp_path
    write(
        tmp,
        "sized.py",
        """
        def f(x, xp):
            if x.shape[0] == 20:
                raise ValueError("f is undefined at n = 20")
            return xp.sum(xp.sin(x)) * x[15]  # needs n >= 16
    """,
    )
    run = adbench(
        tmp,
        "compare",
        "--problem",
        "sized.py:f",
        "--backends",
        "finite-diff,autograd",
        "--modes",
        "reverse",
        "--sizes",
        "16,20,32",
        *FAST,
        "--output",
        "out.csv",
    )
    exit_is(run, 1)
    frame, _ = read_set(tmp / "out.csv")
    ok = frame[frame["size"].isin([16, 32])]
    assert len(ok) == 4 and (ok["status"] == "ok").all(), f"n=16, 32: {statuses(ok)}"
    bad = cases(frame, size=20)
    good = len(bad) == 2 and (bad["status"] == "error").all() and bad["error"].str.contains("undefined at n = 20").all()
    assert good, f"n=20: {statuses(bad)}"
    assert "undefined at n = 20" in run.stderr, "terminal does not name the n=20 error"


@pytest.mark.fault("10")
def test_nan_jacobian(tmp_path: Path) -> None:
    """f * NaN: refused by its NumPy trial before any framework starts (issue 27), one message naming f, exit 2."""
    tmp = tmp_path
    write(
        tmp,
        "nan.py",
        """
        def f(x, xp):
            return xp.sum(x) * float("nan")
    """,
    )
    run = adbench(
        tmp,
        "compare",
        "--problem",
        "nan.py:f",
        "--backends",
        "finite-diff,autograd",
        "--sizes",
        "10",
        *FAST,
        "--output",
        "out.csv",
    )
    exit_is(run, 2)
    assert not (tmp / "out.csv").exists(), "a framework ran"
    assert "nan.py:f failed its NumPy trial at n=10: it returned NaN or infinity" in run.stderr, short(run.stderr)
    assert "Traceback" not in run.stderr and run.stdout == ""


def _api(tmp: Path, call: str, needle: str) -> None:
    run = python(
        tmp,
        f"""
        import numpy as np, adbench, warnings
        warnings.simplefilter("error")
        try:
            {call}
        except ValueError as exc:
            print("ValueError:", exc)
        except Exception as exc:
            print("WRONG", type(exc).__name__, exc)
        else:
            print("WRONG no error")
    """,
    )
    out = last_line(run.stdout) or last_line(run.stderr)
    assert out.startswith("ValueError:") and needle in out, f"not a ValueError naming {needle}: {short(out, 130)}"


@pytest.mark.fault("11")
def test_api_constant_shape(tmp_path: Path) -> None:
    """x_star of the wrong shape: a ValueError naming x_star and its shape."""
    _api(tmp_path, 'adbench.jacobian("loss", np.ones(4), backend="jax", mode="reverse", x_star=np.ones(7))', "'x_star'")


@pytest.mark.fault("11")
def test_api_complex_input(tmp_path: Path) -> None:
    """Complex x: a ValueError (no ComplexWarning cast)."""
    _api(tmp_path, 'adbench.jacobian("loss", np.ones(4) + 1j, backend="manual")', "complex")
