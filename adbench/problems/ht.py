"""``ht`` and ``ht-complicated``: ADBench's hand tracking, a skinned hand posed by 26 parameters, R^n -> R^(3c).

Against ADBench and gradbench: the same functions as ADBench's hand_objective (simple and complicated) and
gradbench's ht eval (its empty ``us`` is the simple variant). The generated cases use a synthetic hand with
ADBench's bone tree (ADBench's model files are not shipped); ADBench's or gradbench's model, small or big (any
number of vertices, 22 bones), and any number of points c come in as constants (``read_adbench_hand``,
adbench.problems.inputs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adbench.problems._registry import register
from adbench.problems.hand import (
    MODEL,
    N_THETA,
    N_TRIANGLES,
    N_VERTICES,
    checked_indices,
    checked_model,
    hand_model,
    pose_slots,
)
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace

if TYPE_CHECKING:
    import scipy.sparse

# ADBench's data sets hand1 ... hand9 have c = 100, 192, 200, 400, 800, 1600, 3200, 6400, 12800 points.
POINTS = (100, 400, 1600, 12800)
SIMPLE_POINTS = 100  # ht takes n = 26 whatever c: one preset, ADBench's hand1 (c = 100)


# -- the objective -------------------------------------------------------------------------------------------
def _euler(angles: Array, xp: Namespace) -> Array:
    """ADBench's euler_angles_to_rotation_matrix for every bone at once: Rz Ry Rx with (tx, tz, ty) =
    angles[:, 0], angles[:, 1], angles[:, 2] (the "xzy" order), (B, 3, 3)."""
    cx, sx = xp.cos(angles[:, 0]), xp.sin(angles[:, 0])
    cz, sz = xp.cos(angles[:, 1]), xp.sin(angles[:, 1])
    cy, sy = xp.cos(angles[:, 2]), xp.sin(angles[:, 2])
    rows = [
        [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
        [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
        [-sy, cy * sx, cy * cx],
    ]
    return xp.stack([xp.stack(r, axis=1) for r in rows], axis=1)


def _angle_axis(aa: Array, xp: Namespace) -> Array:
    """ADBench's angle_axis_to_rotation_matrix (the identity below a norm of 1e-4), (3, 3).

    A traced JIT cannot branch on a value: below the threshold the axis is set to zero, cos to 1 and sin
    to 0, which makes the same formula the identity (and its derivative zero, as ADBench's branch's)."""
    norm = xp.sqrt(xp.sum(aa * aa))
    small = norm < 1e-4
    zero, one = xp.zeros_like(norm), xp.ones_like(norm)
    n = xp.where(small, one, norm)
    x, y, z = (xp.where(small, zero, aa[i] / n) for i in range(3))
    s, c = xp.where(small, zero, xp.sin(n)), xp.where(small, one, xp.cos(n))
    return xp.stack(
        [
            xp.stack([x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s]),
            xp.stack([x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s]),
            xp.stack([x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c]),
        ]
    )


def _pose_angles(theta: Array, xp: Namespace, n_bones: int) -> Array:
    """The bones' Euler angles (B, 3) from theta, laid out by ``pose_slots``: each column is a concat of
    slices of theta and zeros (no scatter in the standard, and no index array to place on a device)."""
    slots = pose_slots(n_bones)
    columns = []
    for k in range(3):
        # Runs of consecutive slots as (first slot, length), runs of zeros as (None, length).
        pieces: list[tuple[int | None, int]] = []
        for v in slots[:, k]:
            s = int(v) if v < N_THETA - 6 else None
            if pieces:
                first, length = pieces[-1]
                if (s is None and first is None) or (s is not None and first is not None and s == first + length):
                    pieces[-1] = (first, length + 1)
                    continue
            pieces.append((s, 1))
        columns.append(
            xp.concat(
                [
                    xp.zeros_like(theta[:length]) if first is None else theta[6 + first : 6 + first + length]
                    for first, length in pieces
                ]
            )
        )
    return xp.stack(columns, axis=1)


def skinned_vertices(
    theta: Array,
    xp: Namespace,
    parents: Sequence[int],
    base_relatives: Array,
    inverse_base_absolutes: Array,
    base_positions: Array,
    weights: Array,
    is_mirrored: bool,
) -> Array:
    """The posed model's vertices (V, 3): ADBench's get_skinned_vertex_positions with its global transform."""
    n_bones = len(parents)
    R = _euler(_pose_angles(theta, xp, n_bones), xp)
    # relative_b = base_relative_b @ [[R_b, 0], [0, 1]]: the rotation acts on the first three columns.
    relatives = xp.concat([base_relatives[:, :, :3] @ R, base_relatives[:, :, 3:]], axis=2)
    absolutes: list[Array] = []
    for b, parent in enumerate(parents):  # parents come before their children (ADBench's order)
        absolutes.append(relatives[b, :, :] if parent < 0 else absolutes[parent] @ relatives[b, :, :])
    transforms = xp.stack(absolutes) @ inverse_base_absolutes  # (B, 4, 4)
    # sum_b w_vb (T_b p_v)[:3]: blend the bones' top 3 x 4 rows per vertex, then apply to the homogeneous p_v.
    blended = xp.reshape(weights @ xp.reshape(transforms[:, :3, :], (n_bones, 12)), (-1, 3, 4))
    positions = xp.sum(blended * base_positions[:, None, :], axis=2)  # (V, 3)
    if is_mirrored:
        positions = xp.concat([-positions[:, :1], positions[:, 1:]], axis=1)
    R_global = _angle_axis(theta[:3], xp)  # times the unit scale ADBench's pose fixes
    return positions @ xp.matrix_transpose(R_global) + theta[3:6]


def ht(x: Array, xp: Namespace, correspondences: Array, points: Array, **model: Any) -> Array:
    """ADBench's hand_objective: point i minus its corresponding model vertex, 3 residuals per point. ``model``:
    the hand model's constants (``hand.MODEL``), as ``skinned_vertices`` names them."""
    vertices = skinned_vertices(x, xp, **model)
    return xp.reshape(points - xp.take(vertices, correspondences, axis=0), (-1,))


def ht_complicated(
    x: Array, xp: Namespace, triangles: Array, correspondences: Array, points: Array, **model: Any
) -> Array:
    """ADBench's hand_objective_complicated: x = (us, theta), us 2 per point; point i minus the point at
    barycentric (u0, u1, 1 - u0 - u1) on its triangle."""
    c = points.shape[0]
    us = xp.reshape(x[: 2 * c], (c, 2))
    vertices = skinned_vertices(x[2 * c :], xp, **model)
    corners = xp.take(triangles, correspondences, axis=0)  # (c, 3) vertex indices
    return xp.reshape(points - on_triangles(vertices, corners, us, xp), (-1,))


def on_triangles(vertices: Array, corners: Array, us: Array, xp: Namespace) -> Array:
    """The points at barycentric (u0, u1, 1 - u0 - u1) on the triangles whose vertex indices are ``corners``
    (c, 3): ht-complicated's model points, and where its generated data is observed."""
    u0, u1 = us[:, 0:1], us[:, 1:2]
    return (
        u0 * xp.take(vertices, corners[:, 0], axis=0)
        + u1 * xp.take(vertices, corners[:, 1], axis=0)
        + (1.0 - u0 - u1) * xp.take(vertices, corners[:, 2], axis=0)
    )


# -- the sparsity pattern ----------------------------------------------------------------------------------
def vertex_dependencies(parents: Sequence[int], weights: np.ndarray) -> np.ndarray:
    """(V, 26) booleans: which pose parameters can move each vertex. The global rotation moves every vertex
    (translation is per coordinate: see ``theta_pattern``); a finger angle moves the vertices weighted to its
    bone or to any bone below it."""
    parents = tuple(int(p) for p in parents)
    n_bones = len(parents)
    slots = pose_slots(n_bones)
    drives = np.zeros((n_bones, N_THETA), dtype=bool)  # bone -> the parameters of itself and its ancestors
    for b, parent in enumerate(parents):
        if parent >= 0:
            drives[b] = drives[parent]
        own = slots[b][slots[b] < N_THETA - 6]
        drives[b, 6 + own] = True
    deps = (np.asarray(weights) != 0) @ drives
    deps[:, :3] = True
    return deps


def theta_pattern(vertex_deps: np.ndarray) -> np.ndarray:
    """(V, 3, 26): residual coordinate k of a point on vertex v depends on v's parameters and translation k."""
    pattern = np.repeat(vertex_deps[:, None, :], 3, axis=1)
    pattern[:, np.arange(3), 3 + np.arange(3)] = True
    return pattern


def ht_sparsity(
    n: int, parents: Sequence[int], weights: np.ndarray, correspondences: np.ndarray, **_: Any
) -> scipy.sparse.csr_matrix:
    import scipy.sparse

    rows = theta_pattern(vertex_dependencies(parents, weights))[np.asarray(correspondences)]
    return scipy.sparse.csr_matrix(rows.reshape(-1, N_THETA))


def ht_complicated_sparsity(
    n: int, parents: Sequence[int], weights: np.ndarray, triangles: np.ndarray, correspondences: np.ndarray, **_: Any
) -> scipy.sparse.csr_matrix:
    import scipy.sparse

    c = len(correspondences)
    pattern = theta_pattern(vertex_dependencies(parents, weights))
    corners = np.asarray(triangles)[np.asarray(correspondences)]  # (c, 3)
    theta_part = pattern[corners[:, 0]] | pattern[corners[:, 1]] | pattern[corners[:, 2]]  # (c, 3, 26)
    us_rows = np.repeat(np.arange(3 * c), 2)
    us_cols = np.repeat(2 * np.arange(c), 6) + np.tile([0, 1], 3 * c)
    us = scipy.sparse.csr_matrix((np.ones(6 * c, dtype=bool), (us_rows, us_cols)), shape=(3 * c, 2 * c))
    return scipy.sparse.hstack([us, scipy.sparse.csr_matrix(theta_part.reshape(-1, N_THETA))], format="csr")


# -- the float64 reference: complex-step differentiation ---------------------------------------------------------
def _complex_step(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, directions: np.ndarray, h: float = 1e-20
) -> np.ndarray:
    """J d for each row d of ``directions``: Im f(x + i h d) / h, exact to rounding for an analytic f."""
    return np.stack([np.imag(f(x + 1j * h * d)) / h for d in directions], axis=-1)


def ht_reference(x: np.ndarray, **constants: Any) -> scipy.sparse.csr_matrix:
    """The Jacobian by complex step, one pass per parameter (26): (3c, 26), as a SciPy matrix."""
    import scipy.sparse

    J = _complex_step(lambda v: ht(v, np, **constants), np.asarray(x, np.float64), np.eye(N_THETA))
    return scipy.sparse.csr_matrix(J)


def ht_complicated_reference(x: np.ndarray, **constants: Any) -> scipy.sparse.csr_matrix:
    """By complex step: the 26 pose columns one pass each; the us columns in two passes (all u0, then all u1),
    exact because point i's residuals depend on its own us only, whatever its triangle (the objective's form)."""
    import scipy.sparse

    x = np.asarray(x, np.float64)
    c = constants["points"].shape[0]
    f = lambda v: ht_complicated(v, np, **constants)  # noqa: E731
    directions = np.zeros((N_THETA + 2, x.shape[0]))
    directions[np.arange(N_THETA), 2 * c + np.arange(N_THETA)] = 1
    directions[N_THETA, 0 : 2 * c : 2] = directions[N_THETA + 1, 1 : 2 * c : 2] = 1
    J = _complex_step(f, x, directions)  # (3c, 28)
    rows = np.repeat(np.arange(3 * c), 2)
    cols = np.tile([0, 1], 3 * c) + np.repeat(2 * np.arange(c), 6)
    us = scipy.sparse.csr_matrix((J[:, N_THETA:].ravel(), (rows, cols)), shape=(3 * c, 2 * c))
    return scipy.sparse.hstack([us, scipy.sparse.csr_matrix(J[:, :N_THETA])], format="csr")


def _model_constants(rng: np.random.Generator) -> dict:
    return hand_model(0)  # one hand for every case, as ADBench's one model file


def _make_theta(rng: np.random.Generator) -> np.ndarray:
    # ADBench's poses look standard normal: global rotation and translation too.
    return rng.standard_normal(N_THETA)


def _observed(
    theta: np.ndarray, model: Mapping[str, Any], where: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """Points near the model posed at a perturbed pose (the pose that 'produced' them), plus noise (m)."""
    true_theta = theta + 0.1 * rng.standard_normal(N_THETA)
    vertices = skinned_vertices(true_theta, np, **{k: model[k] for k in MODEL})
    return where(vertices) + 0.002 * rng.standard_normal((where(vertices).shape[0], 3))


def _simple_constants(x: np.ndarray, rng: np.random.Generator) -> dict:
    _CUSTOM.pop(x.shape[0], None)  # this n is the preset's c = 100 again
    model = _model_constants(rng)
    c = SIMPLE_POINTS
    correspondences = rng.integers(0, N_VERTICES, c)
    points = _observed(x, model, lambda v: v[correspondences], rng)
    return {
        **{k: v for k, v in model.items() if k != "triangles"},
        "correspondences": correspondences,
        "points": points,
    }


def _complicated_n(c: int) -> int:
    return 2 * c + N_THETA


COMPLICATED = {_complicated_n(c): c for c in POINTS}


def _complicated_input(n: int, rng: np.random.Generator) -> np.ndarray:
    c = COMPLICATED[n]
    us = rng.random((c, 2))
    flip = us.sum(axis=1) > 1
    us[flip] = 1 - us[flip]  # inside the triangle: u0, u1 >= 0, u0 + u1 <= 1
    return np.concatenate([us.ravel(), _make_theta(rng)])


def _complicated_constants(x: np.ndarray, rng: np.random.Generator) -> dict:
    model = _model_constants(rng)
    c = COMPLICATED[x.shape[0]]
    correspondences = rng.integers(0, N_TRIANGLES, c)
    us = x[: 2 * c].reshape(c, 2)
    corners = model["triangles"][correspondences]
    points = _observed(x[2 * c :], model, lambda v: on_triangles(v, corners, us, np), rng)
    return {**model, "correspondences": correspondences, "points": points}


# n -> c of the last caller's points at a size (ht: m = 3c whatever n).
_CUSTOM: dict[int, int] = {}


def _points(given: Mapping[str, Any], problem: str) -> np.ndarray:
    points = np.asarray(given["points"], dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] < 1:
        raise ValueError(f"constant 'points' of problem {problem!r} must be a c x 3 array, not shape {points.shape}")
    return points


def _simple_custom(x: np.ndarray, given: Mapping[str, Any]) -> dict:
    """ht on the caller's points (any c) and, where given, model (any number of vertices)."""
    model = checked_model(given, "ht", complicated=False)
    points = _points(given, "ht")
    correspondences = checked_indices(
        "correspondences", "ht", given["correspondences"], model["base_positions"].shape[0], "vertices"
    )
    if correspondences.shape[0] != points.shape[0]:
        raise ValueError(
            f"constant 'correspondences' of problem 'ht' must have one vertex per point: "
            f"{points.shape[0]} ('points'), not {correspondences.shape[0]}"
        )
    _CUSTOM[x.shape[0]] = points.shape[0]
    return {**model, "correspondences": correspondences, "points": points}


def _complicated_custom(x: np.ndarray, given: Mapping[str, Any]) -> dict:
    """ht-complicated on the caller's points (c of them: len(x) = 2c + 26) and, where given, model."""
    model = checked_model(given, "ht-complicated", complicated=True)
    points = _points(given, "ht-complicated")
    c = points.shape[0]
    if x.shape[0] != _complicated_n(c):
        raise ValueError(
            f"problem 'ht-complicated' with c = {c} points ('points') takes len(x) = 2c + 26 = "
            f"{_complicated_n(c)} (us, then theta), not {x.shape[0]}"
        )
    correspondences = checked_indices(
        "correspondences", "ht-complicated", given["correspondences"], model["triangles"].shape[0], "triangles"
    )
    if correspondences.shape[0] != c:
        raise ValueError(
            f"constant 'correspondences' of problem 'ht-complicated' must have one triangle per point: "
            f"{c} ('points'), not {correspondences.shape[0]}"
        )
    return {**model, "correspondences": correspondences, "points": points}


def _simple_outputs(n: int) -> int:
    return 3 * _CUSTOM.get(n, SIMPLE_POINTS)


def _complicated_points(n: int) -> int:
    if n < _complicated_n(1) or (n - N_THETA) % 2:
        raise ValueError(f"problem 'ht-complicated' takes len(x) = 2c + 26 for c >= 1 points, not {n}")
    return (n - N_THETA) // 2


# One problem per variant: their inputs differ (complicated's us are inputs, n = 2c + 26, while the simple
# variant's n is 26 whatever the number of points), and the registry keys a problem's sizes by n.
register(
    Problem(
        name="ht",
        function=ht,
        description=(
            "ADBench's hand tracking, simple: a 22-bone skinned hand (544 vertices) posed by 26 parameters, "
            f"c = {SIMPLE_POINTS} given correspondences; R^26 -> R^(3c)"
        ),
        output_size=_simple_outputs,
        presets={N_THETA: f"c={SIMPLE_POINTS}"},
        sizes=(N_THETA,),
        default_sizes=(N_THETA,),
        quick_sizes=(N_THETA,),
        make_input=lambda n, rng: _make_theta(rng),
        # XLA compiles the 22-bone loop in ~5 s per case and autograd's reverse passes take seconds: named or --full.
        plain_run=False,
        make_constants=_simple_constants,
        # Any c and any model (gradbench's and ADBench's big one included) on the caller's points and correspondences.
        shape_constants=("correspondences", "points"),
        custom_constants=_simple_custom,
        sparsity=ht_sparsity,
        reference_sparse=ht_reference,
        # The bones' transforms applied to every vertex: (V, 3, 4) blended matrices.
        work_size=lambda n: 12 * N_VERTICES,
        cost_exponent=0.0,  # n is fixed at 26; the cost grows with c, not n
        theory="n = 26 pose parameters, m = 3c residuals: forward needs 26 JVPs, reverse 3c VJPs",
    )
)

register(
    Problem(
        name="ht-complicated",
        function=ht_complicated,
        description=(
            "ADBench's hand tracking, complicated: as ht, each point on a triangle at barycentric us that "
            "are inputs too; R^(2c+26) -> R^(3c)"
        ),
        output_size=lambda n: 3 * _complicated_points(n),
        presets={n: f"c={c}" for n, c in COMPLICATED.items()},
        sizes=tuple(COMPLICATED)[:3],
        default_sizes=(_complicated_n(POINTS[0]),),
        quick_sizes=(_complicated_n(POINTS[0]),),
        make_input=_complicated_input,
        plain_run=False,  # as ht
        make_constants=_complicated_constants,
        # Any c (ADBench's hand2 has 192) and any model on the caller's points, correspondences (and triangles).
        shape_constants=("correspondences", "points"),
        custom_constants=_complicated_custom,
        sparsity=ht_complicated_sparsity,
        reference_sparse=ht_complicated_reference,
        work_size=lambda n: max(12 * N_VERTICES, 9 * _complicated_points(n)),
        cost_exponent=1.0,  # the gathers and residuals grow with c, and n = 2c + 26
        theory=(
            "m = 3c, n = 2c + 26: a point's us touch its own 3 rows only, so forward compresses to a few "
            "colours more than the pose's; reverse needs 3c VJPs (every row shares the pose columns)"
        ),
    )
)


# -- ADBench's own files ------------------------------------------------------------------------------------------
def read_adbench_hand(model_dir: str | Path, path: str | Path, complicated: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """x and the constants of ``ht`` (or ``ht-complicated``) from ADBench's hand model folder (bones.txt,
    vertices.txt, triangles.txt) and one of its inputs (hand*_t26_c*.txt), read as ADBench's Python
    input_utils reads them: homogeneous base positions, is_mirrored False, x = theta (or us then theta)."""
    model_dir, delim = Path(model_dir), ":"
    bones = [line.strip().split(delim) for line in (model_dir / "bones.txt").read_text().splitlines() if line.strip()]
    parents = tuple(int(b[1]) for b in bones)
    relatives = np.array([[float(v) for v in b[2:18]] for b in bones]).reshape(-1, 4, 4)
    inverse = np.array([[float(v) for v in b[18:34]] for b in bones]).reshape(-1, 4, 4)
    lines = [line.split(delim) for line in (model_dir / "vertices.txt").read_text().splitlines() if line.strip()]
    positions = np.ones((len(lines), 4))
    weights = np.zeros((len(lines), len(bones)))
    for v, atoms in enumerate(lines):
        positions[v, :3] = [float(a) for a in atoms[:3]]
        for i in range(int(atoms[8])):
            weights[v, int(atoms[9 + 2 * i])] = float(atoms[10 + 2 * i])
    triangles = np.loadtxt(model_dir / "triangles.txt", dtype=np.int64, delimiter=delim, ndmin=2)
    rows = Path(path).read_text().split("\n")
    n_points, n_theta = (int(v) for v in rows[0].split())
    data = [r.split() for r in rows[1 : 1 + n_points]]
    correspondences = np.array([int(r[0]) for r in data], dtype=np.int64)
    points = np.array([[float(v) for v in r[1:4]] for r in data])
    rest = [r.split() for r in rows[1 + n_points :] if r.strip()]
    theta = np.array([float(r[0]) for r in rest[n_points if complicated else 0 :][:n_theta]])
    constants = {
        "parents": parents,
        "base_relatives": relatives,
        "inverse_base_absolutes": inverse,
        "base_positions": positions,
        "weights": weights,
        "is_mirrored": False,
        "correspondences": correspondences,
        "points": points,
    }
    if complicated:
        constants["triangles"] = triangles
        us = np.array([[float(v) for v in r] for r in rest[:n_points]])
        return np.concatenate([us.ravel(), theta]), constants
    return theta, constants
