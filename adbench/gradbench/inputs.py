"""gradbench-like inputs for each eval, drawn as its Python evals and data generators draw them, at small sizes:
for the tool's tests and ``tools/gradbench_check.py`` (a user's inputs come from gradbench's evals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# One camera, point, weight and feature of the kind ADBench's ba data files hold (gradbench's ba eval sends one of
# each, repeated n, m and p times): a small rotation, a centre in front of the point, focal length ~400, and
# radial distortion, so the projection's depth is far from zero.
BA_CAM = [0.0157, -0.0128, 0.0044, -0.034, -0.108, 1.12, 399.8, 0.0, 0.0, -3.2e-7, 5.9e-13]
BA_POINT = [-0.612, 0.572, -1.847]
BA_W, BA_FEAT = 0.8, [-332.65, 262.09]


def _rng(seed: int, eval: str) -> np.random.Generator:
    return np.random.default_rng([seed, sum(map(ord, eval))])


def hello(seed: int = 0, **_: Any) -> float:
    return float(_rng(seed, "hello").integers(1, 10))


def gmm(seed: int = 0, d: int = 2, k: int = 5, n: int = 100) -> dict:
    """ADBench's gmm-data-gen (gradbench's data_gen): alphas and icf standard normal, means uniform, points
    standard normal, gamma 1, m 0."""
    rng = _rng(seed, "gmm")
    return {
        "d": d,
        "k": k,
        "n": n,
        "alpha": rng.standard_normal(k).tolist(),
        "means": rng.random((k, d)).tolist(),
        "icf": rng.standard_normal((k, d + d * (d - 1) // 2)).tolist(),
        "x": rng.standard_normal((n, d)).tolist(),
        "gamma": 1.0,
        "m": 0,
    }


def lstm(seed: int = 0, layers: int = 2, b: int = 14, c: int = 4) -> dict:
    """ADBench's lstm data: parameters and state uniform on [0, 1), the sequence 0/1 codes."""
    rng = _rng(seed, "lstm")
    return {
        "main_params": rng.random((2 * layers, 4 * b)).tolist(),
        "extra_params": rng.random((3, b)).tolist(),
        "state": rng.random((2 * layers, b)).tolist(),
        "sequence": rng.integers(0, 2, (c, b)).astype(float).tolist(),
    }


def ode(seed: int = 0, n: int = 8, s: int = 10) -> dict:
    return {"x": _rng(seed, "ode").random(n).tolist(), "s": s}


def llsq(seed: int = 0, m: int = 8, n: int = 16) -> dict:
    return {"x": _rng(seed, "llsq").random(m).tolist(), "n": n}


def lse(seed: int = 0, n: int = 100) -> dict:
    return {"x": _rng(seed, "lse").random(n).tolist()}


def det(seed: int = 0, ell: int = 4) -> dict:
    return {"A": _rng(seed, "det").random(ell * ell).tolist(), "ell": ell}


def kmeans(seed: int = 0, k: int = 10, n: int = 100, d: int = 8) -> dict:
    """gradbench's kmeans eval: points uniform on [0, 1)^d, the centroids the last k of them (no cluster empty)."""
    points = _rng(seed, "kmeans").random((n, d))
    return {"points": points.tolist(), "centroids": points[-k:].tolist()}


def ba(seed: int = 0, n: int = 2, m: int = 100, p: int = 200) -> dict:
    return {"n": n, "m": m, "p": p, "cam": list(BA_CAM), "x": list(BA_POINT), "w": BA_W, "feat": list(BA_FEAT)}


def ht(seed: int = 0, complicated: bool = False, points: int | None = None) -> dict:
    """gradbench's ht input (HandInput.to_dict) for adbench's synthetic hand (ADBench's bone tree, 544 vertices):
    the model, correspondences, points, theta and us (empty for the simple variant); ``points``: that many
    observed points (random correspondences, and points near the model) instead of the registry's 100."""
    from adbench.problems import get_problem
    from adbench.problems.hand import hand_model

    problem = get_problem("ht-complicated" if complicated else "ht")
    x = problem.inputs(min(problem.presets), seed)
    c = problem.constants(x, seed)
    us, theta = (x[:-26], x[-26:]) if complicated else (np.zeros(0), x)
    if points is not None:
        rng = _rng(seed, "ht")
        targets = len(c["triangles"]) if complicated else len(c["base_positions"])
        c = {
            **c,
            "correspondences": rng.integers(0, targets, points),
            "points": 0.05 * rng.standard_normal((points, 3)),
        }
        us = rng.random((points, 2)) / 2 if complicated else us  # inside the triangle: u0 + u1 <= 1
    model = {
        "bone_count": len(c["parents"]),
        "bone_names": [f"bone{i}" for i in range(len(c["parents"]))],
        "parents": list(c["parents"]),
        "base_relatives": c["base_relatives"].tolist(),
        "inverse_base_absolutes": c["inverse_base_absolutes"].tolist(),
        "base_positions": c["base_positions"].tolist(),
        "weights": c["weights"].tolist(),
        "triangles": np.asarray(hand_model(0)["triangles"]).tolist(),  # the one hand both variants use
        "is_mirrored": bool(c["is_mirrored"]),
    }
    return {
        "theta": theta.tolist(),
        "us": us.reshape(-1, 2).tolist(),
        "data": {
            "model": model,
            "correspondences": np.asarray(c["correspondences"]).tolist(),
            "points": c["points"].tolist(),
        },
    }


def particle(seed: int = 0, light: bool = False) -> dict:
    """gradbench's particle eval's one input; ``light``: with the registry's light step sizes (adbench's
    extension of the input: an eager framework's call takes a second, not a minute)."""
    from adbench.problems import get_problem

    return {"w": 0.0, **(dict(get_problem("particle").extra["light"]) if light else {})}


def saddle(seed: int = 0, light: bool = False) -> dict:
    """gradbench's saddle eval's one input; ``light`` as particle's."""
    from adbench.problems import get_problem

    return {"start": [1.0, 1.0], **(dict(get_problem("saddle").extra["light"]) if light else {})}


# eval -> its input generator, (seed, **shape) -> the input (hello's a bare number).
GENERATORS: dict[str, Callable[..., float | dict[str, Any]]] = {
    "hello": hello,
    "ba": ba,
    "det": det,
    "gmm": gmm,
    "ht": ht,
    "kmeans": kmeans,
    "llsq": llsq,
    "lse": lse,
    "lstm": lstm,
    "ode": ode,
    "particle": particle,
    "saddle": saddle,
}


def gradbench_input(eval: str, seed: int = 0, min_runs: int = 1, min_seconds: float = 0.0, **shape: Any) -> Any:
    """A gradbench-like input of ``eval`` (hello's is a bare number; the others carry ``min_runs`` and
    ``min_seconds``, gradbench's Runs)."""
    value = GENERATORS[eval](seed, **shape)
    if isinstance(value, dict):
        value = {**value, "min_runs": min_runs, "min_seconds": min_seconds}
    return value
