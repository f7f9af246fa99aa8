"""ADBench's bundle adjustment and hand tracking: the objectives against independent float64 implementations,
ADBench's own hand model and inputs, the hand-written and complex-step Jacobians, and the declared patterns."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from adbench.problems import ba as ba_module
from adbench.problems import get_problem
from adbench.problems import hand as hand_module
from adbench.problems import ht as ht_module

HAND = Path(os.environ.get("ADBENCH_SHARED_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference"))
HAND = HAND / "adbench-hand"
if not HAND.exists():  # a worktree beside /work/main: the shared folder is /work/shared
    HAND = Path("/work/shared/reference/adbench-hand")


def complex_step(f, x, h=1e-20):
    """Every column: d f / d x_k = Im f(x + i h e_k) / h, exact to rounding for an analytic f."""
    return np.stack([np.imag(f(x + 1j * h * e)) / h for e in np.eye(x.shape[0])], axis=-1)


def rel_error(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


# -- ba -------------------------------------------------------------------------------------------------------
def ba_loop(x, obs, feats, n_cams):
    """ADBench's C++ ba_objective (src/cpp/shared/ba.h), observation by observation, in plain Python."""
    n_cams, n_points, P = ba_module._shape(x, obs, n_cams)
    cams, X, w = (
        x[: 11 * n_cams].reshape(-1, 11),
        x[11 * n_cams : 11 * n_cams + 3 * n_points].reshape(-1, 3),
        x[11 * n_cams + 3 * n_points :],
    )
    out = np.empty(3 * P, dtype=x.dtype)
    for i in range(P):
        cam, pt = cams[obs[i, 0]], X[obs[i, 1]]
        rot, Xo = cam[:3], pt - cam[3:6]
        sq = np.sum(rot * rot)
        theta = np.sqrt(sq)
        k = rot / theta
        Xcam = Xo * np.cos(theta) + np.cross(k, Xo) * np.sin(theta) + k * np.dot(k, Xo) * (1 - np.cos(theta))
        proj = Xcam[:2] / Xcam[2]
        rsq = np.sum(proj * proj)
        proj = proj * (1 + cam[9] * rsq + cam[10] * rsq * rsq) * cam[6] + cam[7:9]
        out[2 * i : 2 * i + 2] = w[i] * (proj - feats[i])
    out[2 * P :] = 1 - w * w
    return out


def test_ba_sizes_are_adbench_grid():
    """ba1 of ADBench's data: 49 cameras, 7 776 points, 31 843 observations = 55 710 inputs, 95 529 outputs."""
    problem = get_problem("ba")
    assert problem.presets[55710].startswith("ba1")
    assert problem.n_outputs(55710) == 95529
    assert 522 in problem.presets and problem.run_sizes == (522,)


@pytest.mark.parametrize("seed", [0, 1])
def test_ba_objective_matches_adbench_loop(seed):
    problem = get_problem("ba")
    x = problem.inputs(522, seed)
    c = problem.constants(x, seed)
    np.testing.assert_allclose(
        problem.function(x, np, **c), ba_loop(x, c["obs"], c["feats"], c["n_cams"]), rtol=1e-12, atol=1e-12
    )


def test_ba_inputs_follow_the_generator():
    """Points in [0, 10)^3, centres in [0, 100)^3, weights in (0, 1), distinct observations, every point in
    front of its camera (the look-at change), features within noise of the projections."""
    problem = get_problem("ba")
    n = 5110
    x = problem.inputs(n)
    c = problem.constants(x)
    n_cams, n_points, P = ba_module.SHAPES[n]
    cams, X, w = ba_module._unpack(x, np, n_cams, n_points)
    assert X.min() >= 0 and X.max() < 10 and cams[:, 3:6].min() >= 0 and cams[:, 3:6].max() < 100
    assert 0 <= w.min() and w.max() < 1
    assert len({tuple(o) for o in c["obs"]}) == P
    depth = ba_module._rodrigues(cams[c["obs"][:, 0], :3], X[c["obs"][:, 1]] - cams[c["obs"][:, 0], 3:6], np)[:, 2]
    assert depth.min() > 10
    proj = ba_module._project(cams[c["obs"][:, 0]], X[c["obs"][:, 1]], np)
    assert np.abs(proj - c["feats"]).max() < 6  # standard normal noise on 2P = 4 000 values


@pytest.mark.parametrize("seed", [0, 1])
def test_ba_manual_matches_complex_step_everywhere(seed):
    """Every entry at the smallest preset, off the pattern too: the hand-written blocks are the reference."""
    problem = get_problem("ba")
    x = problem.inputs(522, seed)
    c = problem.constants(x, seed)
    J = complex_step(lambda v: problem.function(v, np, **c), x)
    assert rel_error(problem.reference_jacobian(x, **c), J) < 1e-14
    pattern = problem.sparsity(522, **c).toarray()
    assert not np.any(J[~pattern]), "a nonzero off the declared pattern"


def test_ba_manual_matches_blockwise_complex_step_at_ba1():
    """ba1 (55 710 inputs): complex-step per block, vectorised: each residual row depends on exactly one camera,
    one point and one weight, so perturbing column k of every camera (point, weight) at once gives every
    observation's derivative by its k-th block column: 15 complex evaluations in all."""
    problem = get_problem("ba")
    n = 55710
    x = problem.inputs(n)
    c = problem.constants(x)
    n_cams, n_points, P = ba_module.SHAPES[n]
    f = lambda v: problem.function(v, np, **c)  # noqa: E731
    blocks = np.empty((P, 2, ba_module.BLOCK))
    offsets = [(0, 11, n_cams, k) for k in range(11)] + [(11 * n_cams, 3, n_points, k) for k in range(3)]
    for col, (start, width, count, k) in enumerate(offsets):
        d = np.zeros(n)
        d[start + width * np.arange(count) + k] = 1
        blocks[:, :, col] = (np.imag(f(x + 1j * 1e-20 * d)) / 1e-20)[: 2 * P].reshape(P, 2)
    d = np.zeros(n)
    d[11 * n_cams + 3 * n_points :] = 1
    dw = np.imag(f(x + 1j * 1e-20 * d)) / 1e-20
    blocks[:, :, 14] = dw[: 2 * P].reshape(P, 2)
    expected = np.concatenate([blocks.ravel(), dw[2 * P :]])
    values = ba_module.ba_sparse_jacobian(x, **c)
    assert rel_error(values, expected) < 1e-13


# -- ht ----------------------------------------------------------------------------------------------------------
def hand_loop(
    theta,
    us,
    parents,
    base_relatives,
    inverse_base_absolutes,
    base_positions,
    weights,
    is_mirrored,
    correspondences,
    points,
    triangles=None,
):
    """ADBench's C++ hand objective (src/cpp/shared/hand_light_matrix.h) step by step, in plain NumPy loops:
    to_pose_params, Euler angles per bone, relatives to absolutes, skinning, mirroring, the global transform."""
    n_bones = len(parents)
    pose = np.zeros((n_bones + 3, 3), dtype=theta.dtype)
    pose[0], pose[1], pose[2] = theta[0:3], 1.0, theta[3:6]
    i_theta, i_pose = 6, 5
    for _ in range(5):
        for i in range(2, 5):
            pose[i_pose, 0] = theta[i_theta]
            i_theta += 1
            if i == 2:
                pose[i_pose, 1] = theta[i_theta]
                i_theta += 1
            i_pose += 1
        i_pose += 1
    absolutes = []
    for b in range(n_bones):
        tx, ty, tz = pose[b + 3, 0], pose[b + 3, 2], pose[b + 3, 1]
        Rx = np.eye(3, dtype=theta.dtype)
        Rx[1, 1] = Rx[2, 2] = np.cos(tx)
        Rx[2, 1] = np.sin(tx)
        Rx[1, 2] = -np.sin(tx)
        Ry = np.eye(3, dtype=theta.dtype)
        Ry[0, 0] = Ry[2, 2] = np.cos(ty)
        Ry[0, 2] = np.sin(ty)
        Ry[2, 0] = -np.sin(ty)
        Rz = np.eye(3, dtype=theta.dtype)
        Rz[0, 0] = Rz[1, 1] = np.cos(tz)
        Rz[1, 0] = np.sin(tz)
        Rz[0, 1] = -np.sin(tz)
        tr = np.eye(4, dtype=theta.dtype)
        tr[:3, :3] = Rz @ Ry @ Rx
        relative = base_relatives[b] @ tr
        absolutes.append(relative if parents[b] == -1 else absolutes[parents[b]] @ relative)
    positions = np.zeros((3, base_positions.shape[0]), dtype=theta.dtype)
    for b in range(n_bones):
        current = (absolutes[b] @ inverse_base_absolutes[b]) @ base_positions.T
        positions += current[:3] * weights[:, b]
    if is_mirrored:
        positions[0] *= -1
    aa = pose[0]
    norm = np.sqrt(np.sum(aa * aa))
    x, y, z = aa / norm
    s, c = np.sin(norm), np.cos(norm)
    R = np.array(
        [
            [x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
            [x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s],
            [x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c],
        ]
    )
    vertices = (R @ positions + pose[2][:, None]).T
    err = np.empty(3 * len(correspondences), dtype=theta.dtype)
    for i, corr in enumerate(correspondences):
        if triangles is None:
            hand = vertices[corr]
        else:
            v = triangles[corr]
            hand = us[i, 0] * vertices[v[0]] + us[i, 1] * vertices[v[1]] + (1 - us[i, 0] - us[i, 1]) * vertices[v[2]]
        err[3 * i : 3 * i + 3] = points[i] - hand
    return err


def adbench_hand(complicated: bool):
    name = "complicated_small_hand1_t26_c100.txt" if complicated else "simple_small_hand1_t26_c100.txt"
    if not (HAND / name).exists():
        pytest.skip(f"ADBench's hand data (microsoft/ADBench data/hand, see {HAND}/README.md) is not here")
    return ht_module.read_adbench_hand(HAND / "model", HAND / name, complicated)


@pytest.mark.parametrize("complicated", [False, True], ids=["simple", "complicated"])
def test_ht_on_adbench_hand1(complicated):
    """ADBench's model (22 bones, 544 vertices, 1 084 triangles) and its input hand1_t26_c100 (microsoft/ADBench
    data/hand/{simple,complicated}_small, commit in the folder's SOURCE): the objective equals an independent
    loop implementation of ADBench's C++ code path, and the Jacobian (complex-step reference) is covered by the
    declared pattern, equals dense complex-step differentiation, and is nonzero where the pattern says."""
    x, c = adbench_hand(complicated)
    name = "ht-complicated" if complicated else "ht"
    problem = get_problem(name)
    assert c["base_positions"].shape == (544, 4) and c["weights"].shape == (544, 22) and len(c["parents"]) == 22
    n_pts = c["points"].shape[0]
    theta, us = (x[2 * n_pts :], x[: 2 * n_pts].reshape(-1, 2)) if complicated else (x, None)
    if complicated:
        loop = hand_loop(theta, us, **{k: v for k, v in c.items() if k != "triangles"}, triangles=c["triangles"])
    else:
        loop = hand_loop(theta, None, **c)
    value = problem.function(x, np, **c)
    np.testing.assert_allclose(value, loop, rtol=1e-13, atol=1e-15)
    assert np.abs(value).max() < 1  # residuals of a fitted hand (m), not garbage
    J = complex_step(lambda v: problem.function(v, np, **c), x)
    assert rel_error(problem.reference_jacobian(x, **c), J) < 1e-15
    pattern = problem.sparsity(x.shape[0], **c).toarray()
    assert not np.any(J[~pattern]), "a nonzero off the declared pattern"
    assert np.count_nonzero(J[pattern]) == pattern.sum(), "the pattern declares an entry that is always zero"


def test_ht_mirroring_negates_x_before_the_global_transform():
    """ADBench's C++ mirrors the skinned x coordinate when the model is mirrored (its data never is)."""
    problem = get_problem("ht")
    x = problem.inputs(26)
    c = problem.constants(x)
    mirrored = {**c, "is_mirrored": True}
    np.testing.assert_allclose(
        problem.function(x, np, **mirrored), hand_loop(x, None, **mirrored), rtol=1e-12, atol=1e-14
    )
    assert not np.allclose(problem.function(x, np, **mirrored), problem.function(x, np, **c))


@pytest.mark.parametrize("name", ["ht", "ht-complicated"])
def test_ht_synthetic_hand_has_adbench_structure(name):
    problem = get_problem(name)
    n = min(problem.sizes)
    x = problem.inputs(n)
    c = problem.constants(x)
    assert c["parents"] == hand_module.PARENTS and len(c["parents"]) == 22
    assert c["base_positions"].shape == (544, 4) and np.all(c["base_positions"][:, 3] == 1)
    np.testing.assert_allclose(c["weights"].sum(axis=1), 1, rtol=1e-12)
    assert set(np.count_nonzero(c["weights"], axis=1)) <= {1, 2, 3, 4}
    chain = []
    for b, parent in enumerate(c["parents"]):
        chain.append(c["base_relatives"][b] if parent < 0 else chain[parent] @ c["base_relatives"][b])
    np.testing.assert_allclose(
        np.array(chain) @ c["inverse_base_absolutes"], np.tile(np.eye(4), (22, 1, 1)), atol=1e-12
    )
    model = hand_module.hand_model(0)
    edges = np.sort(
        np.concatenate([model["triangles"][:, [0, 1]], model["triangles"][:, [1, 2]], model["triangles"][:, [2, 0]]]),
        axis=1,
    )
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert model["triangles"].shape == (1084, 3) and np.all(counts == 2)  # closed: every edge in two triangles
    # At the rest pose (zero angles, no global transform) the skinned model is the base mesh.
    rest = ht_module.skinned_vertices(
        np.zeros(26),
        np,
        **{
            k: c[k]
            for k in ("parents", "base_relatives", "inverse_base_absolutes", "base_positions", "weights", "is_mirrored")
        },
    )
    np.testing.assert_allclose(rest, c["base_positions"][:, :3], atol=1e-12)
    if name == "ht":
        loop = hand_loop(x, None, **c)
    else:
        k = c["points"].shape[0]
        loop = hand_loop(
            x[2 * k :],
            x[: 2 * k].reshape(-1, 2),
            **{a: v for a, v in c.items() if a != "triangles"},
            triangles=c["triangles"],
        )
    np.testing.assert_allclose(problem.function(x, np, **c), loop, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["ht", "ht-complicated"])
@pytest.mark.parametrize("seed", [0, 1])
def test_ht_reference_is_complex_step_and_pattern_is_exact(name, seed):
    problem = get_problem(name)
    n = min(problem.sizes)
    x = problem.inputs(n, seed)
    c = problem.constants(x, seed)
    J = complex_step(lambda v: problem.function(v, np, **c), x)
    assert rel_error(problem.reference_jacobian(x, **c), J) < 1e-15
    pattern = problem.sparsity(n, **c).toarray()
    assert not np.any(J[~pattern]) and np.count_nonzero(J[pattern]) == pattern.sum()


def test_ht_complicated_presets_follow_adbench_points():
    problem = get_problem("ht-complicated")
    assert {problem.presets[2 * c + 26] for c in (100, 400, 1600, 12800)} == {"c=100", "c=400", "c=1600", "c=12800"}
    assert problem.n_outputs(226) == 300


@pytest.mark.parametrize(
    "name,file", [("ht", "simple_small_hand1_t26_c100.txt"), ("ht-complicated", "complicated_small_hand1_t26_c100.txt")]
)
def test_adbench_hand_file_as_constants(name, file):
    """ADBench's hand file with its model/ folder beside it, through the --constants loader: the problem at that
    instance (ADBench's hand1, c = 100), its reference Jacobian's shape from the file's points."""
    if not (HAND / file).exists():
        pytest.skip(f"ADBench's hand data not at {HAND}")
    from adbench.problems.inputs import load

    instance = load(name, HAND / file)
    problem = get_problem(f"{name}@{HAND / file}")
    assert instance.constants["points"].shape == (100, 3) and instance.size == (26 if name == "ht" else 226)
    assert problem.n_outputs(instance.size) == 300
    J = problem.reference_jacobian(instance.x, **problem.constants(instance.x))
    assert J.shape == (300, instance.size) and np.isfinite(J).all()
