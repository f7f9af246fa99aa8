"""A registered problem's x and constants from a file: ``.npz``, gradbench's input JSON, ADBench's ``.txt`` data.

``load(problem, path)`` reads one instance and checks it through the problem's own ``constants`` (every
shape by name); ``from_gradbench(problem, input)`` converts one gradbench ``evaluate`` input (its eval
README's field layout) and is what a gradbench tool uses too. ``get_problem("gmm@path")`` is the
registered problem at that one instance (``problem_at_file``): its only size is len(x), and worker
processes rebuild it from the same name.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from adbench.errors import UnknownChoiceError
from adbench.problems._registry import get_problem, resolve_at_file

FORMATS = (".npz", ".json", ".txt")


@dataclasses.dataclass(frozen=True)
class FileInput:
    """One instance of a problem: x, every constant (checked by the problem), its size n and where it came from."""

    problem: str
    x: np.ndarray
    constants: dict[str, Any]
    source: str

    @property
    def size(self) -> int:
        return int(self.x.shape[0])


# -- gradbench's inputs: one converter per eval, input -> (x, the constants gradbench gives) -----------------------
def _gmm(inp: Mapping[str, Any]) -> tuple[np.ndarray, dict]:
    """{d, k, n, alpha, means | mu, icf | q and l, x, gamma, m}; l flat per component (column by column, as
    gradbench's JAX tool scatters it) or jagged by rows (its README's l[k][j], j entries in row j)."""
    alpha = np.asarray(inp["alpha"], np.float64)
    means = np.asarray(inp["means"] if "means" in inp else inp["mu"], np.float64)
    k, d = means.shape
    if "icf" in inp:
        icf = np.asarray(inp["icf"], np.float64).reshape(k, -1)
    else:
        q = np.asarray(inp["q"], np.float64).reshape(k, d)
        rows, cols = np.tril_indices(d, -1)
        order = np.lexsort((rows, cols))  # strictly lower entries column by column
        if inp["l"] and isinstance(inp["l"][0], list) and inp["l"][0] and isinstance(inp["l"][0][0], list):
            # jagged: l[k][r] holds row r's entries L[r, 0..r-1]
            l_flat = np.array([[float(lk[r][c]) for r, c in zip(rows[order], cols[order])] for lk in inp["l"]])
        else:
            l_flat = np.asarray(inp["l"], np.float64).reshape(k, d * (d - 1) // 2)
        icf = np.concatenate([q, l_flat], axis=1)
    x = np.concatenate([alpha, means.ravel(), icf.ravel()])
    return x, {
        "data": np.asarray(inp["x"], np.float64).reshape(-1, d),
        "wishart_gamma": float(inp["gamma"]),
        "wishart_m": int(inp["m"]),
    }


def ba_expanded(
    n: int, m: int, p: int, cam: npt.ArrayLike, point: npt.ArrayLike, w: float, feat: npt.ArrayLike
) -> tuple[np.ndarray, dict[str, Any]]:
    """ADBench's ba instance from its one camera, point, weight and feature: N, M and P copies, observation i on
    camera i mod N and point i mod M (ADBench's read_ba_instance; gradbench's ba input is the same five)."""
    cams = np.tile(np.asarray(cam, np.float64), (n, 1))
    X = np.tile(np.asarray(point, np.float64), (m, 1))
    i = np.arange(p)
    obs = np.stack([i % n, i % m], axis=1).astype(np.int64)
    x = np.concatenate([cams.ravel(), X.ravel(), np.full(p, float(w))])
    return x, {"obs": obs, "feats": np.tile(np.asarray(feat, np.float64), (p, 1)), "n_cams": int(n)}


def _ba(inp: Mapping[str, Any]) -> tuple[np.ndarray, dict]:
    return ba_expanded(inp["n"], inp["m"], inp["p"], inp["cam"], inp["x"], inp["w"], inp["feat"])


def _ht(inp: Mapping[str, Any], complicated: bool) -> tuple[np.ndarray, dict]:
    """{theta, data: {model: {parents, base_relatives, ...}, correspondences, points}, us}; empty us: simple."""
    model, data = inp["data"]["model"], inp["data"]
    constants: dict[str, Any] = {
        key: np.asarray(model[key]) for key in ("base_relatives", "inverse_base_absolutes", "base_positions", "weights")
    }
    constants.update(
        parents=tuple(int(p) for p in model["parents"]),
        is_mirrored=bool(model["is_mirrored"]),
        correspondences=np.asarray(data["correspondences"], np.int64),
        points=np.asarray(data["points"], np.float64),
    )
    theta = np.asarray(inp["theta"], np.float64)
    us = np.ravel(np.asarray(inp.get("us") or [], np.float64))
    if bool(us.size) != complicated:
        raise ValueError(
            f"gradbench's ht input with {'empty' if complicated else 'non-empty'} us is problem "
            f"{'ht' if complicated else 'ht-complicated'}'s, not {'ht-complicated' if complicated else 'ht'}'s"
        )
    if us.size:
        constants["triangles"] = np.asarray(model["triangles"], np.int64)
        return np.concatenate([us, theta]), constants
    return theta, constants


def _kmeans(inp: Mapping[str, Any]) -> tuple[np.ndarray, dict]:
    return np.ravel(np.asarray(inp["centroids"], np.float64)), {"points": np.asarray(inp["points"], np.float64)}


def _lstm(inp: Mapping[str, Any]) -> tuple[np.ndarray, dict]:
    x = np.concatenate(
        [np.ravel(np.asarray(inp["main_params"], np.float64)), np.ravel(np.asarray(inp["extra_params"], np.float64))]
    )
    return x, {"state": np.asarray(inp["state"], np.float64), "sequence": np.asarray(inp["sequence"], np.float64)}


GRADBENCH: dict[str, Callable[[Mapping[str, Any]], tuple[np.ndarray, dict]]] = {
    "gmm": _gmm,
    "ba": _ba,
    "ht": lambda inp: _ht(inp, complicated=False),
    "ht-complicated": lambda inp: _ht(inp, complicated=True),
    "kmeans": _kmeans,
    "lstm": _lstm,
    "llsq": lambda inp: (np.asarray(inp["x"], np.float64), {"n_points": int(inp["n"])}),
    "lse": lambda inp: (np.asarray(inp["x"], np.float64), {}),
    "det": lambda inp: (np.ravel(np.asarray(inp["A"], np.float64)), {}),
    "ode": lambda inp: (np.asarray(inp["x"], np.float64), {"steps": int(inp["s"])}),
}


def from_gradbench(problem: str, inp: Mapping[str, Any]) -> tuple[np.ndarray, dict]:
    """x and the constants gradbench's input gives (an ``evaluate`` message's ``input``), for ``problem``;
    the problem's ``constants`` fills and checks the rest."""
    if problem not in GRADBENCH:
        raise UnknownChoiceError("problem with a gradbench input", problem, GRADBENCH)
    try:
        return GRADBENCH[problem](inp)
    except KeyError as exc:
        raise ValueError(
            f"gradbench's {problem} input has no field {exc.args[0]!r} (fields given: {', '.join(sorted(inp))})"
        ) from None


# -- ADBench's .txt data ----------------------------------------------------------------------------------------
def read_adbench_ba(path: str | Path) -> tuple[np.ndarray, dict]:
    """ADBench's data/ba/*.txt: "N M P", then one camera (11), one point (3), one weight, one feature (2)."""
    rows = [r.split() for r in Path(path).read_text().splitlines() if r.strip()]
    n, m, p = (int(v) for v in rows[0][:3])
    return ba_expanded(
        n,
        m,
        p,
        [float(v) for v in rows[1]],
        [float(v) for v in rows[2]],
        float(rows[3][0]),
        [float(v) for v in rows[4]],
    )


def read_adbench_gmm(path: str | Path) -> tuple[np.ndarray, dict]:
    """ADBench's data/gmm/*.txt: "D K N", K alphas, K means, K icf rows, N points (one, replicated, where fewer
    follow), "gamma m". gmm's ADBench variant (prior_sign=-1) is ADBench's objective on them."""
    rows = [r.split() for r in Path(path).read_text().splitlines() if r.strip()]
    d, k, n = (int(v) for v in rows[0][:3])
    alphas = np.array([float(r[0]) for r in rows[1 : 1 + k]])
    means = np.array([[float(v) for v in r] for r in rows[1 + k : 1 + 2 * k]])
    icf = np.array([[float(v) for v in r] for r in rows[1 + 2 * k : 1 + 3 * k]])
    points = [[float(v) for v in r] for r in rows[1 + 3 * k : -1]]
    data = np.array(points * n if len(points) == 1 else points)
    gamma, m = rows[-1][:2]
    return (
        np.concatenate([alphas, means.ravel(), icf.ravel()]),
        {"data": data.reshape(-1, d), "wishart_gamma": float(gamma), "wishart_m": int(m)},
    )


def _read_txt(problem: str, path: Path) -> tuple[np.ndarray, dict]:
    if problem == "ba":
        return read_adbench_ba(path)
    if problem == "gmm":
        return read_adbench_gmm(path)
    if problem in ("ht", "ht-complicated"):
        from adbench.problems.ht import read_adbench_hand

        model = path.parent / "model"  # ADBench's data/hand/<set>/model beside hand*_t26_c*.txt
        if not model.is_dir():
            raise ValueError(
                f"ADBench's hand file {path} needs its model folder (bones.txt, vertices.txt, triangles.txt) at {model}"
            )
        return read_adbench_hand(model, path, complicated=problem == "ht-complicated")
    raise ValueError(
        f"ADBench's .txt data is read for ba, gmm, ht and ht-complicated, not {problem!r}; "
        f"use .npz (the constants by name, x as 'x') or gradbench's input JSON"
    )


# -- one entry point ------------------------------------------------------------------------------------------------
def load(problem: str, path: str | Path) -> FileInput:
    """The instance of registered ``problem`` in ``path``, checked through the problem's ``constants``:

    - ``.npz``: an array ``x`` and the constants by name (those left out take the problem's defaults);
    - ``.json``: gradbench's input for the matching eval (an ``evaluate`` message, or its ``input``);
    - ``.txt``: ADBench's data file (ba; gmm; ht and ht-complicated with the ``model`` folder beside it).
    """
    prob, path = get_problem(problem), Path(path)
    if not path.is_file():
        raise ValueError(f"--constants: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        if "x" not in arrays:
            raise ValueError(f"{path} has no array 'x' (the input); it has {', '.join(sorted(arrays)) or 'none'}")
        x = np.asarray(arrays.pop("x"), np.float64)
        given = {k: (v.item() if v.ndim == 0 else v) for k, v in arrays.items()}  # 0-d arrays: Python numbers
    elif suffix == ".json":
        try:
            message = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON: {exc}") from None
        x, given = from_gradbench(prob.name, message.get("input", message) if isinstance(message, dict) else {})
    elif suffix == ".txt":
        x, given = _read_txt(prob.name, path)
    else:
        raise UnknownChoiceError("constants file format", suffix or path.name, FORMATS)
    prob.check_input(x)
    constants = prob.constants(x, **given)  # every shape checked by name, the rest defaulted
    return FileInput(prob.name, x, constants, str(path))


def _work(problem: Any, instance: FileInput) -> int:
    """The problem's declared work at this n where it knows it; else f's peak in NumPy on the instance, measured
    once (tracemalloc sees NumPy's buffers), in float64 elements."""
    try:
        return int(problem.work_size(instance.size))
    except (KeyError, ValueError):  # a size the declaration has no preset for (gmm, lstm at the caller's shape)
        import tracemalloc

        tracemalloc.start()
        try:
            problem.function(instance.x, np, **instance.constants)
            return max(tracemalloc.get_traced_memory()[1] // 8, instance.size)
        finally:
            tracemalloc.stop()


@resolve_at_file
@functools.cache
def problem_at_file(name: str, path: str) -> Any:
    """The registered problem ``name`` at the one instance in ``path``: size len(x), that x, those constants
    (``get_problem("name@path")``; a worker process reads the file again)."""
    base = get_problem(name)
    instance = load(name, path)
    n = instance.size
    label = f"{Path(path).name}"
    m, work = base.n_outputs(n), _work(base, instance)  # fixed now: a later default at this n must not change them
    return dataclasses.replace(
        base,
        name=f"{name}@{path}",
        description=f"{base.description}; x and constants from {path}",
        presets={n: label},
        sizes=(n,),
        quick_sizes=(n,),
        default_sizes=(n,),
        make_input=lambda _n, _rng: instance.x.copy(),
        make_constants=lambda _x, _rng: dict(instance.constants),
        output_size=lambda _n: m,
        work_size=lambda _n: work,
        shape_constants=(),
        custom_constants=None,
        constants_take_seed=False,
    )


def problems_at_file(problems: list[str] | None, path: str | Path) -> list[str]:
    """``compare --constants FILE``: the one registered problem ``--problems`` names, as NAME@FILE (checked now,
    so a bad file fails before any worker starts)."""
    if not problems or len(problems) != 1:
        raise ValueError(
            f"--constants FILE gives the instance of one problem: name it with --problems NAME "
            f"(got {', '.join(problems) if problems else 'none'})"
        )
    if not Path(path).is_file():
        raise ValueError(f"--constants: no such file {str(path)!r}")
    name, absolute = get_problem(problems[0]).name, str(Path(path).resolve())
    problem_at_file(name, absolute)
    return [f"{name}@{absolute}"]
