"""``ba``: ADBench's bundle-adjustment residuals, R^(11N + 3M + P) -> R^(3P), with a sparse Jacobian.

Against ADBench and gradbench: the same function as ADBench's ba_objective and gradbench's ba eval, residuals in
ADBench's order (2P reprojection, then P weight). x = (cameras N x 11, points M x 3, weights P); constants ``obs``
(P x 2), ``feats`` (P x 2) and ``n_cams`` (N, which n alone does not fix). ADBench's data files and gradbench's
input carry one camera, point, weight and feature, replicated, observation i on camera i mod N and point i mod M
(adbench.problems.inputs reads both); adbench's own random instances differ from ADBench's generator in the
cameras' rotations only (look-at, see ``random_x``). Any N, M, P on the caller's constants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace

if TYPE_CHECKING:
    import scipy.sparse

N_CAM_PARAMS = 11  # [r1 r2 r3 C1 C2 C3 f u0 v0 k1 k2]: Rodrigues rotation, centre, focal, principal point, distortion
BLOCK = N_CAM_PARAMS + 3 + 1  # the columns one observation's residuals depend on: its camera, point and weight


def _n(cams: int, points: int, obs: int) -> int:
    return N_CAM_PARAMS * cams + 3 * points + obs


# (N, M, P): the first from the grid of ADBench's MATLAB runner for generate_random_ba_instance (its smallest,
# 522 inputs, is the default run; 5 110 and 16 550 inputs follow), then ADBench's data sets ba1 and ba2
# (data/ba/ba1_n49_m7776_p31843.txt, ba2_n21_m11315_p36455.txt: the "Bundle Adjustment in the Large" sizes).
GRID = [(2, 100, 200), (10, 1000, 2000), (50, 2000, 10000), (49, 7776, 31843), (21, 11315, 36455)]
SHAPES = {_n(*g): g for g in GRID}
PRESETS = {
    n: (
        f"ba1 N={c},M={m},P={p}"
        if (c, m, p) == (49, 7776, 31843)
        else f"ba2 N={c},M={m},P={p}"
        if (c, m, p) == (21, 11315, 36455)
        else f"N={c},M={m},P={p}"
    )
    for n, (c, m, p) in SHAPES.items()
}


def shape_of(n: int, obs: np.ndarray, n_cams: int) -> tuple[int, int, int]:
    """(N, M, P) from n = 11 N + 3 M + P, the P observations and N = ``n_cams``; a ValueError naming what does
    not fit."""
    p = obs.shape[0]
    rest = n - N_CAM_PARAMS * n_cams - p
    if isinstance(n_cams, bool) or not isinstance(n_cams, (int, np.integer)) or n_cams < 1:
        raise ValueError(
            f"constant 'n_cams' of problem 'ba' must be a positive integer (the number of cameras N), not {n_cams!r}"
        )
    if rest < 3 or rest % 3:
        raise ValueError(
            f"problem 'ba' with n_cams = {n_cams} and P = {p} observations ('obs') takes len(x) = "
            f"11 N + 3 M + P for some M >= 1 points, not {n}"
        )
    return int(n_cams), rest // 3, p


def _shape(x: Array, obs: np.ndarray, n_cams: int) -> tuple[int, int, int]:
    return shape_of(x.shape[0], obs, n_cams)


def _unpack(x: Array, xp: Namespace, n_cams: int, n_points: int) -> tuple[Array, Array, Array]:
    cams = xp.reshape(x[: N_CAM_PARAMS * n_cams], (n_cams, N_CAM_PARAMS))
    X = xp.reshape(x[N_CAM_PARAMS * n_cams : N_CAM_PARAMS * n_cams + 3 * n_points], (n_points, 3))
    w = x[N_CAM_PARAMS * n_cams + 3 * n_points :]
    return cams, X, w


def _cross(a: Array, b: Array, xp: Namespace) -> Array:
    """a x b row by row for (P, 3) arrays (the standard's linalg.cross is an optional extension)."""
    return xp.stack(
        [
            a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1],
            a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
            a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0],
        ],
        axis=1,
    )


def _rodrigues(rot: Array, X: Array, xp: Namespace) -> Array:
    """ADBench's rodrigues_rotate_point, one observation per row.

    ADBench branches on sqtheta != 0 (then X + rot x X); here both branches are evaluated and
    ``where`` picks, with theta made safe where it is zero so neither branch divides by zero (a
    traced JIT cannot branch on a value, and a NaN in the unused branch would leak into gradients).
    """
    sqtheta = xp.sum(rot * rot, axis=1)
    nonzero = sqtheta != 0
    theta = xp.sqrt(xp.where(nonzero, sqtheta, xp.ones_like(sqtheta)))
    cos, sin = xp.cos(theta)[:, None], xp.sin(theta)[:, None]
    w = rot / theta[:, None]
    tmp = xp.sum(w * X, axis=1)[:, None] * (1.0 - cos)
    full = X * cos + _cross(w, X, xp) * sin + w * tmp
    return xp.where(nonzero[:, None], full, X + _cross(rot, X, xp))


def _project(cam: Array, X: Array, xp: Namespace) -> Array:
    """ADBench's project: rotate X - C, divide by depth, distort radially, scale by f, shift by (u0, v0)."""
    Xcam = _rodrigues(cam[:, 0:3], X - cam[:, 3:6], xp)
    proj = Xcam[:, 0:2] / Xcam[:, 2:3]
    rsq = xp.sum(proj * proj, axis=1)[:, None]
    distorted = proj * (1.0 + cam[:, 9:10] * rsq + cam[:, 10:11] * rsq * rsq)
    return distorted * cam[:, 6:7] + cam[:, 7:9]


def ba(x: Array, xp: Namespace, obs: Array, feats: Array, n_cams: int) -> Array:
    """ADBench's ba_objective: 2P reprojection residuals w_p (project(cam_i, X_j) - feat_p), observation by
    observation (x then y), followed by the P weight residuals 1 - w_p^2, as ADBench's output orders them."""
    n_cams, n_points, _ = _shape(x, obs, n_cams)
    cams, X, w = _unpack(x, xp, n_cams, n_points)
    cam = xp.take(cams, obs[:, 0], axis=0)  # (P, 11): each observation's camera
    pt = xp.take(X, obs[:, 1], axis=0)  # (P, 3): and point
    reproj = w[:, None] * (_project(cam, pt, xp) - feats)
    return xp.concat([xp.reshape(reproj, (-1,)), 1.0 - w * w])


# -- the hand-written Jacobian -------------------------------------------------------------------------------
def _skew(v: np.ndarray) -> np.ndarray:
    """[v]x for each row of v: (P, 3, 3) cross-product matrices, in v's dtype."""
    z = np.zeros(v.shape[0], dtype=v.dtype)
    return np.stack(
        [np.stack([z, -v[:, 2], v[:, 1]], 1), np.stack([v[:, 2], z, -v[:, 0]], 1), np.stack([-v[:, 1], v[:, 0], z], 1)],
        1,
    )


def _rotated(r: np.ndarray, Xo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each Xo rotated by its angle-axis r (Rodrigues, ADBench's I + [r]x at theta = 0), and its derivatives by
    hand: (Xcam (P, 3), dXcam/dXo = R (P, 3, 3), dXcam/dr (P, 3, 3))."""
    P, dtype = r.shape[0], r.dtype
    sq = np.sum(r * r, axis=1)
    nonzero = sq != 0
    theta = np.sqrt(np.where(nonzero, sq, np.ones_like(sq)))
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    k = r / theta[:, None]
    kdot = np.sum(k * Xo, axis=1)[:, None]
    kx = np.cross(k, Xo)
    Xcam = Xo * c + kx * s + k * kdot * (1 - c)
    # dXcam/dXo is the rotation matrix R = c I + s [k]x + (1 - c) k k^T; at theta = 0, ADBench's I + [r]x.
    eye = np.eye(3, dtype=dtype)
    R = c[:, :, None] * eye + s[:, :, None] * _skew(k) + (1 - c)[:, :, None] * k[:, :, None] * k[:, None, :]
    R = np.where(nonzero[:, None, None], R, eye + _skew(r))
    # dXcam/dr_j, column by column: theta' = k_j, k' = (e_j - k k_j) / theta.
    dr = np.empty((P, 3, 3), dtype=dtype)
    for j in range(3):
        kj = k[:, j : j + 1]
        dk = (eye[j] - k * kj) / theta[:, None]
        dr[:, :, j] = (
            -s * kj * Xo
            + c * kj * kx
            + s * np.cross(dk, Xo)
            + s * kj * kdot * k
            + (1 - c) * (np.sum(dk * Xo, axis=1)[:, None] * k + kdot * dk)
        )
        dr[:, :, j] = np.where(nonzero[:, None], dr[:, :, j], np.cross(eye[j], Xo))
    return np.where(nonzero[:, None], Xcam, Xo + np.cross(r, Xo)), R, dr


def _block_derivatives(cam: np.ndarray, X: np.ndarray, w: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """d(reprojection residual)/d(camera, point, weight) by hand: (P, 2, 15), one 2 x 15 block per observation."""
    P, dtype = cam.shape[0], cam.dtype  # float32 in, float32 out: the manual floor runs in the case's dtype
    Xcam, R, dr = _rotated(cam[:, 0:3], X - cam[:, 3:6])
    # Projection p = Xcam[:2] / Xcam[2]; distortion d = p L(|p|^2); proj = f d + (u0, v0).
    z = Xcam[:, 2]
    p = Xcam[:, :2] / z[:, None]
    dp = np.zeros((P, 2, 3), dtype=dtype)
    dp[:, 0, 0] = dp[:, 1, 1] = 1 / z
    dp[:, :, 2] = -p / z[:, None]
    k1, k2, f = cam[:, 9], cam[:, 10], cam[:, 6]
    rsq = np.sum(p * p, axis=1)
    L = 1 + k1 * rsq + k2 * rsq * rsq
    dL = (2 * (k1 + 2 * k2 * rsq))[:, None] * p  # dL/dp
    dd = L[:, None, None] * np.eye(2, dtype=dtype) + p[:, :, None] * dL[:, None, :]  # (P, 2, 2)
    dproj_dXcam = f[:, None, None] * (dd @ dp)  # (P, 2, 3)
    d = p * L[:, None]
    proj = d * f[:, None] + cam[:, 7:9]
    J = np.zeros((P, 2, BLOCK), dtype=dtype)
    J[:, :, 0:3] = dproj_dXcam @ dr
    J[:, :, 3:6] = -(dproj_dXcam @ R)
    J[:, :, 6] = d
    J[:, 0, 7] = J[:, 1, 8] = 1
    J[:, :, 9] = f[:, None] * p * rsq[:, None]
    J[:, :, 10] = f[:, None] * p * (rsq * rsq)[:, None]
    J[:, :, 11:14] = dproj_dXcam @ R
    J[:, :, :14] *= w[:, None, None]
    J[:, :, 14] = proj - feats
    return J


def structure(n: int, obs: np.ndarray, n_cams: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the Jacobian's nonzeros, in CSR order (row by row, columns ascending): per
    observation two rows of its camera's 11, its point's 3 and its weight's 1 columns, then one weight row each."""
    n_cams, n_points, P = shape_of(n, obs, n_cams)
    off_x, off_w = N_CAM_PARAMS * n_cams, N_CAM_PARAMS * n_cams + 3 * n_points
    p = np.arange(P)
    block_cols = np.concatenate(
        [
            N_CAM_PARAMS * obs[:, :1] + np.arange(N_CAM_PARAMS),
            off_x + 3 * obs[:, 1:2] + np.arange(3),
            (off_w + p)[:, None],
        ],
        axis=1,
    )  # (P, 15)
    rows = np.concatenate([np.repeat(np.arange(2 * P), BLOCK), 2 * P + p])
    cols = np.concatenate([np.repeat(block_cols, 2, axis=0).ravel(), off_w + p])
    return rows, cols


def ba_sparse_jacobian(x: np.ndarray, obs: np.ndarray, feats: np.ndarray, n_cams: int) -> np.ndarray:
    """The hand-written Jacobian's values in ``structure``'s order: the 2 x 15 blocks, then d(1 - w^2)/dw = -2w."""
    n_cams, n_points, _ = _shape(x, obs, n_cams)
    cams, X, w = _unpack(x, np, n_cams, n_points)
    blocks = _block_derivatives(cams[obs[:, 0]], X[obs[:, 1]], w, feats)
    return np.concatenate([blocks.ravel(), -2 * w])


def ba_jacobian(x: np.ndarray, obs: np.ndarray, feats: np.ndarray, n_cams: int) -> np.ndarray:
    """The same, dense: for the dense Jacobian's check, at the sizes where m x n fits."""
    rows, cols = structure(x.shape[0], obs, n_cams)
    J = np.zeros((3 * obs.shape[0], x.shape[0]), dtype=x.dtype)
    np.add.at(J, (rows, cols), ba_sparse_jacobian(x, obs, feats, n_cams))
    return J


def ba_sparsity(n: int, obs: np.ndarray, feats: np.ndarray, n_cams: int) -> scipy.sparse.csr_matrix:
    """The declared pattern: a SciPy CSR matrix of ones on ``structure``."""
    import scipy.sparse

    rows, cols = structure(n, obs, n_cams)
    return scipy.sparse.csr_matrix((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(3 * obs.shape[0], n))


# -- inputs, as ADBench's generate_random_ba_instance draws them -----------------------------------------------
def _look_at(centres: np.ndarray, target: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Rodrigues vectors of cameras at ``centres`` looking at ``target`` (camera z forward, as ADBench's
    projection divides by Xcam[2]), turned by ``roll`` about their viewing axes."""
    from scipy.spatial.transform import Rotation

    forward = target - centres
    forward /= np.linalg.norm(forward, axis=1, keepdims=True)
    helper = np.where(np.abs(forward[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    right = np.cross(helper, forward)
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    up = np.cross(forward, right)
    c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
    R = np.stack([c * right + s * up, -s * right + c * up, forward], axis=1)  # rows: the camera's axes
    return Rotation.from_matrix(R).as_rotvec()


def _make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    return random_x(*SHAPES[n], rng)


def random_x(n_cams: int, n_points: int, P: int, rng: np.random.Generator) -> np.ndarray:
    """x of a random instance of any (N, M, P)."""
    # ADBench's generate_random_ba_instance, with one change: its rotations are randn, which puts points
    # behind cameras and on their image planes, where the projection's 1/z and the distortion's |p|^4 give
    # entries of 1e9 beside entries of 1e-1 (a max-relative check would then see the 1e9 ones only). Here
    # each camera looks at the points' cube, rolled at random about its viewing axis.
    cams = np.empty((n_cams, N_CAM_PARAMS))
    cams[:, 3:6] = rng.random((n_cams, 3)) * 100  # centres in a cube of side 100
    cams[:, 0:3] = _look_at(cams[:, 3:6], np.full(3, 5.0), rng.random(n_cams) * 2 * np.pi)
    cams[:, 6] = rng.random(n_cams) * 1000  # focal lengths
    cams[:, 7:9] = rng.standard_normal((n_cams, 2)) * 10  # principal points
    cams[:, 9:11] = rng.random((n_cams, 2)) * 0.1  # radial distortion
    X = rng.random((n_points, 3)) * 10  # points in a cube of side 10
    w = rng.random(P)  # weights in (0, 1)
    return np.concatenate([cams.ravel(), X.ravel(), w])


def _make_constants(x: np.ndarray, rng: np.random.Generator) -> dict:
    _CUSTOM.pop(x.shape[0], None)  # this n is the preset's again
    return random_observations(x, *SHAPES[x.shape[0]], rng)


def random_observations(x: np.ndarray, n_cams: int, n_points: int, P: int, rng: np.random.Generator) -> dict:
    """The constants of a random instance of any (N, M, P) with cameras and points x."""
    # Observations: P distinct (camera, point) pairs drawn at random from all N M pairs; features: their
    # projections plus standard normal noise (generate_random_ba_instance's randperm and randn).
    pairs = rng.choice(n_cams * n_points, size=P, replace=False)
    obs = np.stack([pairs // n_points, pairs % n_points], axis=1).astype(np.int64)
    cams, X, _ = _unpack(x, np, n_cams, n_points)
    feats = _project(cams[obs[:, 0]], X[obs[:, 1]], np) + rng.standard_normal((P, 2))
    return {"obs": obs, "feats": feats, "n_cams": n_cams}


# n -> (N, M, P) of the last caller's constants at a size: m = 3P and the work follow the constants, not only n.
_CUSTOM: dict[int, tuple[int, int, int]] = {}


def shape_at(n: int) -> tuple[int, int, int]:
    """(N, M, P) at size n: the caller's last constants there, else the preset's."""
    if n in _CUSTOM:
        return _CUSTOM[n]
    if n in SHAPES:
        return SHAPES[n]
    raise ValueError(
        f"problem 'ba' at n = {n}, which is not one of its presets, takes its shape from the constants "
        f"'obs', 'feats' and 'n_cams' (none given yet at this size)"
    )


def _custom_constants(x: np.ndarray, given: Mapping[str, Any]) -> dict:
    """ba on the caller's observations: N = n_cams, P = len(obs), M from len(x) = 11 N + 3 M + P; indices and
    features checked by name."""
    obs, feats = np.asarray(given["obs"]), np.asarray(given["feats"], dtype=np.float64)
    if obs.ndim != 2 or obs.shape[1] != 2 or obs.shape[0] < 1 or obs.dtype.kind not in "iu":
        raise ValueError(
            f"constant 'obs' of problem 'ba' must be a P x 2 integer array of (camera, point) indices, "
            f"not {obs.dtype} of shape {obs.shape}"
        )
    n_cams, n_points, p = shape_of(x.shape[0], obs, given["n_cams"])
    if feats.shape != (p, 2):
        raise ValueError(
            f"constant 'feats' of problem 'ba' must have shape ({p}, 2), one feature per observation, not {feats.shape}"
        )
    for col, what, count in ((0, "camera", n_cams), (1, "point", n_points)):
        if obs[:, col].min() < 0 or obs[:, col].max() >= count:
            raise ValueError(
                f"constant 'obs' of problem 'ba': {what} indices must lie in [0, {count}), not "
                f"[{obs[:, col].min()}, {obs[:, col].max()}]"
            )
    _CUSTOM[x.shape[0]] = (n_cams, n_points, p)
    return {"obs": obs.astype(np.int64), "feats": feats, "n_cams": n_cams}


register(
    Problem(
        name="ba",
        function=ba,
        description=(
            "ADBench's bundle adjustment: N cameras, M points, P observations; reprojection and weight "
            "residuals, R^(11N+3M+P) -> R^(3P), 31 nonzeros per observation"
        ),
        output_size=lambda n: 3 * shape_at(n)[2],
        presets=PRESETS,
        sizes=tuple(SHAPES)[:4],
        default_sizes=(_n(*GRID[0]),),
        quick_sizes=(_n(*GRID[0]),),
        make_input=_make_input,
        make_constants=_make_constants,
        # Any N, M, P on the caller's observations (ADBench's ba files, gradbench's inputs: adbench.problems.inputs).
        shape_constants=("obs", "feats", "n_cams"),
        custom_constants=_custom_constants,
        manual_jacobian=ba_jacobian,
        manual_sparse_jacobian=ba_sparse_jacobian,
        manual_sparse_structure=lambda n, obs, feats, n_cams: structure(n, obs, n_cams),
        sparsity=ba_sparsity,
        # (P, 15) gathered camera-point-weight rows and a few (P, 3) intermediates.
        work_size=lambda n: 24 * shape_at(n)[2],
        cost_exponent=1.0,  # O(1) work per observation
        theory=(
            "each residual row depends on 15 of the n inputs: forward needs n JVPs dense, 15 colours compressed; "
            "reverse needs 3P VJPs dense, and a camera's rows all share its columns"
        ),
    )
)
