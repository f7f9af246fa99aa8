"""The registry's hand-written Jacobians against float64 central differences, and control_loop's edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import backend_modes, jacobian_shape, require_backend

import adbench
from adbench.backends.numpy_baselines import central_differences
from adbench.problems import get_problem, list_problems
from adbench.problems.seed import loop_count

# Nested problems have no Jacobian to check: tests/test_nested.py checks their references.
CASES = [(p.name, n) for p in list_problems() if not p.nested for n in (p.quick_sizes if p.presets else (1, 7, 60))]


@pytest.mark.parametrize("name,n", CASES, ids=[f"{p}-n{n}" for p, n in CASES])
def test_reference_jacobian_matches_finite_differences(name, n):
    problem = get_problem(name)
    x = problem.inputs(n, seed=3)
    consts = problem.constants(x, seed=3)
    fd = central_differences(lambda v: problem.function(v, np, **consts), x, problem.is_scalar(n))
    ref = problem.reference_jacobian(x, **consts)
    assert ref.shape == fd.shape == jacobian_shape(problem, n)
    # Central differences in float64 carry O(h^2) ~ eps^(2/3) ~ 4e-11 error, times the size of
    # third derivatives (control_loop's nested sin(z^2) has large ones): 1e-6 leaves margin.
    np.testing.assert_allclose(ref, fd, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


def test_inputs_are_deterministic_and_seeded():
    loss = get_problem("loss")
    assert np.array_equal(loss.inputs(50), loss.inputs(50))
    assert not np.array_equal(loss.inputs(50, seed=0), loss.inputs(50, seed=1))
    x = loss.inputs(50)
    assert not np.array_equal(loss.constants(x)["x_star"], x)  # independent streams


@pytest.mark.parametrize(
    "z,k",
    [
        (np.array([0.2, 0.9, -0.3]), 0),  # max < 1: no iteration, f = sum(z)
        (np.array([-3.0, -1.5, -2.0]), 0),  # all negative: range() of a negative count is empty
        (np.array([0.5, 2.7, -1.0]), 2),
        (np.array([0.1, 5.2, 0.3, -4.0]), 5),  # a larger k
    ],
    ids=["k0-below-one", "k0-negative", "k2", "k5"],
)
def test_control_loop_counts_and_gradients(z, k):
    assert loop_count(z) == k
    problem = get_problem("control_loop")
    expected_f = z.copy()
    for _ in range(k):
        expected_f = np.sin(expected_f**2)
    assert problem.function(z, np, k=k) == pytest.approx(expected_f.sum())
    J = adbench.jacobian("control_loop", z, backend="manual")
    fd = central_differences(lambda v: problem.function(v, np, k=k), z, True)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-7)
    if k == 0:
        np.testing.assert_array_equal(J, np.ones_like(z))


def test_constants_follow_the_input():
    """control_loop's k is recomputed from the x handed in, not from the registry's default input."""
    problem = get_problem("control_loop")
    assert problem.constants(np.array([0.1, 3.5]))["k"] == 3
    assert problem.constants(np.array([0.1, 3.5]), k=1)["k"] == 1


# -- llsq: a value that does not depend on how a compiler rounds ---------------------------------------------------
LLSQ_BACKENDS = sorted({b for b, m in backend_modes("jacobian") if m == "reverse"} - {"manual", "finite-diff"})


def llsq_by_gradbench_grid(x: np.ndarray, n_points: int) -> np.ndarray:
    """The gradient on gradbench's own grid, t_i = -1 + 2i/(N - 1) (its eval README), divided as written: NumPy
    gives exactly 0 at an odd N's midpoint, so this is the function gradbench defines."""
    t = -1.0 + (np.arange(n_points) * 2.0) / (n_points - 1.0)
    T = t[:, None] ** np.arange(x.shape[0])[None, :]
    return -(T.T @ (np.sign(t) - T @ x))


@pytest.mark.parametrize("n_points", [41, 40, 1025])
def test_llsq_grid_is_gradbench_s_with_an_exact_midpoint(n_points):
    """The registry's grid (2i - (N - 1)) / (N - 1) puts exactly 0 at an odd N's midpoint, where sign is 0, and
    elsewhere agrees with gradbench's -1 + 2i/(N - 1) to rounding (no point changes sign)."""
    from adbench.problems.llsq import _grid

    x = get_problem("llsq").inputs(16)
    t, s, _ = _grid(x, np, n_points)
    assert (t == 0).sum() == n_points % 2 and (s == 0).sum() == n_points % 2
    ref = get_problem("llsq").reference_jacobian(x, n_points=n_points)
    np.testing.assert_allclose(ref, llsq_by_gradbench_grid(x, n_points), rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("n_points", [41, 40], ids=["odd-N", "even-N"])
@pytest.mark.parametrize("backend", LLSQ_BACKENDS)
def test_llsq_gradient_is_the_same_on_every_backend(backend, n_points):
    """At odd N too: under jax.jit, -1 + 2i/(N - 1) came out 5.6e-17 at the midpoint (XLA multiplies by the
    reciprocal), sign gave 1, and JAX's gradient was off by 1.5 % of max|J| at N = 41, m = 16. Compiled
    backends (torch.compile, TensorFlow's XLA, mx.compile) run under -m slow."""
    require_backend(backend)
    problem = get_problem("llsq")
    x = problem.inputs(16)
    dtype, tol = ("float32", 1e-5) if backend.startswith("mlx") else ("float64", 1e-12)  # MLX refuses float64
    J = adbench.jacobian("llsq", x, backend=backend, mode="reverse", dtype=dtype, n_points=n_points)
    ref = problem.reference_jacobian(x, n_points=n_points)
    assert float(np.max(np.abs(J - ref)) / np.max(np.abs(ref))) < tol


# -- any shape the constants define ----------------------------------------------------------------------------------
def bigger_hand():
    """The synthetic hand with every vertex twice (V = 1 088, 2 168 triangles): a model of another size, as
    ADBench's big model is beside its small one."""
    from adbench.problems.hand import hand_model

    model = hand_model(0)
    V = model["base_positions"].shape[0]
    return {
        **model,
        "base_positions": np.concatenate([model["base_positions"]] * 2),
        "weights": np.concatenate([model["weights"]] * 2),
        "triangles": np.concatenate([model["triangles"], model["triangles"] + V]),
    }


def any_shape_case(name: str):
    """x and the constants of a shape no preset has."""
    rng = np.random.default_rng(11)
    if name == "ba":  # N = 3 cameras, M = 7 points, P = 12 observations: n = 66
        from adbench.problems.ba import random_observations, random_x

        x = random_x(3, 7, 12, rng)
        return x, random_observations(x, 3, 7, 12, rng)
    if name == "kmeans":  # gradbench's k = 10, d = 16 at N = 200 points: n = 160
        return rng.random(160), {"points": rng.random((200, 16))}
    if name == "mlp":  # h = 7, d = 5, c = 3, B = 9: n = 7^2 + 10 * 7 + 3 = 122
        return 0.3 * rng.standard_normal(122), {
            "inputs": rng.standard_normal((9, 5)),
            "targets": np.eye(3)[rng.integers(0, 3, 9)],
        }
    theta = get_problem("ht").inputs(26)
    if name == "ht":  # c = 30 points on the model with 1 088 vertices
        model = {k: v for k, v in bigger_hand().items() if k != "triangles"}
        return theta, {**model, "correspondences": rng.integers(0, 1088, 30), "points": rng.standard_normal((30, 3))}
    if name == "ht-big-model-complicated":
        c, model = 50, bigger_hand()
        return (
            np.concatenate([0.5 * rng.random(2 * c), theta]),
            {**model, "correspondences": rng.integers(0, 2168, c), "points": rng.standard_normal((c, 3))},
        )
    c = 192  # ht-complicated at ADBench's hand2 c = 192, on the synthetic hand: n = 410
    return np.concatenate([0.5 * rng.random(2 * c), theta]), {
        "correspondences": rng.integers(0, 1084, c),
        "points": rng.standard_normal((c, 3)),
    }


ANY_SHAPE = ["ba", "kmeans", "mlp", "ht", "ht-complicated", "ht-big-model-complicated"]


@pytest.mark.parametrize("backend,mode", [("jax", "reverse"), ("torch", "forward"), ("autograd", "reverse")])
@pytest.mark.parametrize("case", ANY_SHAPE)
def test_any_shape_meets_the_float64_reference(case, backend, mode):
    """At a size that is no preset, on the caller's constants: the backend's Jacobian against the hand-written one
    (ba, kmeans, mlp) or the complex-step reference (ht), and m from the constants."""
    require_backend(backend)
    name = "ht-complicated" if case.startswith("ht-big") else case
    problem = get_problem(name)
    x, consts = any_shape_case(case)
    assert x.shape[0] not in problem.presets or name == "ht"  # ht's n is 26 whatever its shape
    J = adbench.jacobian(name, x, backend=backend, mode=mode, dtype="float64", **consts)
    full = problem.constants(x, **consts)
    ref = problem.reference_jacobian(x, **full)
    assert J.shape == ref.shape == jacobian_shape(problem, x.shape[0])
    assert float(np.max(np.abs(J - ref)) / np.max(np.abs(ref))) < 1e-10
    if "points" in consts and name.startswith("ht"):
        assert problem.n_outputs(x.shape[0]) == 3 * consts["points"].shape[0]


def test_any_shape_sparse_jacobian_of_ba():
    """The sparse path (pattern, colouring, hand-written sparse reference) at a custom (N, M, P)."""
    require_backend("jax")
    x, consts = any_shape_case("ba")
    S = adbench.sparse_jacobian("ba", x, backend="jax", mode="forward", dtype="float64", **consts)
    ref = get_problem("ba").reference_sparse_jacobian(x, **consts)
    assert S.shape == ref.shape == (36, 66) and abs(S - ref).max() < 1e-10 * abs(ref).max()


def test_a_preset_after_a_custom_shape_is_the_preset_again():
    """m follows the last constants at a size: a custom ht of 30 points, then the preset's 100 again."""
    problem = get_problem("ht")
    x, consts = any_shape_case("ht")
    problem.constants(x, **consts)
    assert problem.n_outputs(26) == 90
    problem.constants(x)
    assert problem.n_outputs(26) == 300


BAD_SHAPES = [
    ("ba", 66, {"n_cams": 3, "obs": np.zeros((12, 2), int), "feats": np.zeros((12, 2))}, None),
    (
        "ba",
        67,
        {"n_cams": 3, "obs": np.zeros((12, 2), int), "feats": np.zeros((12, 2))},
        r"problem 'ba' with n_cams = 3 and P = 12 observations \('obs'\) takes len\(x\) = 11 N \+ 3 M \+ P",
    ),
    ("ba", 66, {"n_cams": 3, "obs": np.zeros((12, 2), int)}, "needs the constant 'feats' to define its shape"),
    (
        "ba",
        66,
        {"n_cams": 3, "obs": np.full((12, 2), 7), "feats": np.zeros((12, 2))},
        r"constant 'obs' of problem 'ba': camera indices must lie in \[0, 3\)",
    ),
    (
        "ba",
        66,
        {"n_cams": 3, "obs": np.zeros((12, 2), int), "feats": np.zeros((11, 2))},
        r"constant 'feats' of problem 'ba' must have shape \(12, 2\)",
    ),
    (
        "ba",
        66,
        {"n_cams": 0, "obs": np.zeros((12, 2), int), "feats": np.zeros((12, 2))},
        "constant 'n_cams' of problem 'ba' must be a positive integer",
    ),
    ("kmeans", 161, {"points": np.zeros((20, 16))}, r"takes len\(x\) = k d, a multiple of 16, not 161"),
    ("kmeans", 160, {"points": np.zeros(20)}, "constant 'points' of problem 'kmeans' must be an N x d array"),
    (
        "mlp",
        123,
        {"inputs": np.zeros((9, 5)), "targets": np.zeros((9, 3))},
        r"problem 'mlp' with constants 'inputs' \(d = 5\) and 'targets' \(c = 3\) takes len\(x\) = h\^2",
    ),
    (
        "mlp",
        122,
        {"inputs": np.zeros((9, 5)), "targets": np.zeros((8, 3))},
        "constant 'targets' of problem 'mlp' must be a B x c array with the inputs' B = 9 rows",
    ),
    (
        "ht",
        26,
        {"correspondences": np.array([0, 600]), "points": np.zeros((2, 3))},
        r"constant 'correspondences' of problem 'ht': indices must lie in \[0, 544\)",
    ),
    ("ht", 26, {"correspondences": np.array([0, 1]), "points": np.zeros((3, 3))}, "must have one vertex per point: 3"),
    (
        "ht",
        26,
        {"correspondences": np.array([0]), "points": np.zeros((1, 3)), "weights": np.zeros((544, 21))},
        r"constant 'weights' of problem 'ht' must have shape \(544, 22\)",
    ),
    (
        "ht",
        26,
        {"correspondences": np.array([0]), "points": np.zeros((1, 3)), "parents": (-1, 0)},
        "constant 'parents' of problem 'ht' must list 22 bones",
    ),
    (
        "ht-complicated",
        411,
        {"correspondences": np.arange(192), "points": np.zeros((192, 3))},
        r"problem 'ht-complicated' with c = 192 points \('points'\) takes len\(x\) = 2c \+ 26 = 410",
    ),
    ("ht-complicated", 411, {}, "needs the constant 'correspondences' to define its shape"),
]


@pytest.mark.parametrize("name,n,consts,message", BAD_SHAPES, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_SHAPES)])
def test_shapes_the_math_cannot_take_are_refused_by_name(name, n, consts, message):
    """What adbench.jacobian and compare check before any framework runs: the size, then the constants."""
    problem, x = get_problem(name), np.full(n, 0.1)
    if message is None:  # the good case beside the bad ones: it runs
        assert adbench.jacobian(name, x, backend="manual", **consts).shape == (36, 66)
        return
    with pytest.raises(ValueError, match=message):
        problem.check_input(x)
        problem.constants(x, **consts)


# -- constants from files, and --sizes ------------------------------------------------------------------------------
def gmm_gradbench_input(layout: str) -> dict:
    """gradbench's gmm input (D = 3, K = 2, N = 5) in one of its layouts: icf (ADBench's rows), or q and l with l
    flat per component (column by column) or jagged by rows (its README's l[k][j])."""
    rng = np.random.default_rng(4)
    d, k = 3, 2
    q, lower = rng.standard_normal((k, d)), rng.standard_normal((k, 3))  # lower: L[1,0], L[2,0], L[2,1]
    inp = {
        "d": d,
        "k": k,
        "n": 5,
        "x": rng.standard_normal((5, d)).tolist(),
        "m": 2,
        "gamma": 1.5,
        "alpha": rng.standard_normal(k).tolist(),
        "means": rng.random((k, d)).tolist(),
    }
    if layout == "icf":
        return {**inp, "icf": np.concatenate([q, lower], axis=1).tolist()}
    if layout == "flat":
        return {**inp, "q": q.tolist(), "l": lower.tolist()}
    jagged = [[[], [lk[0]], [lk[1], lk[2]]] for lk in lower.tolist()]
    return {**{k_: v for k_, v in inp.items() if k_ != "means"}, "mu": inp["means"], "q": q.tolist(), "l": jagged}


@pytest.mark.parametrize("layout", ["flat", "jagged"])
def test_gradbench_gmm_layouts_give_the_same_instance(layout):
    from adbench.problems.inputs import from_gradbench

    x_icf, _ = from_gradbench("gmm", gmm_gradbench_input("icf"))
    x, c = from_gradbench("gmm", gmm_gradbench_input(layout))
    np.testing.assert_array_equal(x, x_icf)
    assert c["wishart_gamma"] == 1.5 and c["wishart_m"] == 2 and c["data"].shape == (5, 3)


def ht_gradbench_input(complicated: bool) -> dict:
    from adbench.problems.hand import hand_model

    model = hand_model(0)
    rng = np.random.default_rng(2)
    c = 7
    return {
        "theta": rng.standard_normal(26).tolist(),
        "us": (0.3 * rng.random(2 * c)).tolist() if complicated else [],
        "data": {
            "correspondences": rng.integers(0, 544, c).tolist(),
            "points": rng.standard_normal((c, 3)).tolist(),
            "model": {
                "bone_count": 22,
                "bone_names": [f"b{i}" for i in range(22)],
                "parents": list(model["parents"]),
                "is_mirrored": False,
                **{
                    k: np.asarray(model[k]).tolist()
                    for k in ("base_relatives", "inverse_base_absolutes", "base_positions", "weights", "triangles")
                },
            },
        },
    }


GRADBENCH_INPUTS = {
    "kmeans": lambda: {
        "points": np.random.default_rng(0).random((40, 4)).tolist(),
        "centroids": np.random.default_rng(1).random((3, 4)).tolist(),
    },
    "llsq": lambda: {"x": [0.5, 0.25, 0.125], "n": 9},
    "ba": lambda: {
        "n": 2,
        "m": 5,
        "p": 7,
        "cam": [0.1, 0.2, 0.3, 1.0, 2.0, -30.0, 800.0, 1.0, 2.0, 0.01, 0.02],
        "x": [0.5, 0.4, 0.3],
        "w": 0.7,
        "feat": [3.0, 4.0],
    },
    "ht": lambda: ht_gradbench_input(False),
    "ht-complicated": lambda: ht_gradbench_input(True),
    "lse": lambda: {"x": [0.1, 0.7, 0.3]},
    "ode": lambda: {"x": [0.2, 0.4, 0.6], "s": 3},
}


@pytest.mark.parametrize("name", list(GRADBENCH_INPUTS))
def test_gradbench_input_json_runs_as_the_problem(name, tmp_path):
    """gradbench's input (as an evaluate message in a file) becomes the problem at that instance: x, constants
    checked by the problem, the manual derivative at that size."""
    import json

    from adbench.problems.inputs import load

    path = tmp_path / f"{name}.json"
    path.write_text(
        json.dumps({"kind": "evaluate", "module": name, "function": "objective", "input": GRADBENCH_INPUTS[name]()})
    )
    instance = load(name, path)
    problem = get_problem(f"{name}@{path}")
    assert problem.sizes == (instance.size,) and np.array_equal(problem.inputs(instance.size), instance.x)
    consts = problem.constants(instance.x)
    assert consts.keys() == instance.constants.keys()
    ref = problem.reference_jacobian(instance.x, **consts)
    assert ref is not None and ref.shape == jacobian_shape(problem, instance.size)
    if name == "ba":  # ADBench's expansion: observation i on camera i mod N, point i mod M
        np.testing.assert_array_equal(consts["obs"], np.stack([np.arange(7) % 2, np.arange(7) % 5], axis=1))
    if name == "llsq":
        assert consts["n_points"] == 9


def test_npz_constants_by_name_and_refusals(tmp_path):
    from adbench.problems.inputs import load

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(2), rng.random(6), rng.standard_normal(12)])  # D = 3, K = 2
    np.savez(tmp_path / "gmm.npz", x=x, data=rng.standard_normal((9, 3)), prior_sign=-1)
    instance = load("gmm", tmp_path / "gmm.npz")
    assert instance.size == 20 and instance.constants["prior_sign"] == -1 and instance.constants["wishart_m"] == 0
    np.savez(tmp_path / "no_x.npz", data=rng.standard_normal((9, 3)))
    with pytest.raises(ValueError, match="has no array 'x'"):
        load("gmm", tmp_path / "no_x.npz")
    np.savez(tmp_path / "bad.npz", x=x, data=rng.standard_normal((9, 4)))
    with pytest.raises(ValueError, match=r"D = 4 takes len\(x\) = K \(1 \+ D \+ D\(D\+1\)/2\), a multiple of 15"):
        load("gmm", tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="unknown constants file format '.csv'; valid choices: .json, .npz, .txt"):
        (tmp_path / "a.csv").write_text("1")
        load("gmm", tmp_path / "a.csv")


def test_adbench_ba_txt(tmp_path):
    """ADBench's data/ba format: "N M P", one camera, one point, one weight, one feature, replicated."""
    from adbench.problems.inputs import load

    (tmp_path / "ba_tiny.txt").write_text("2 3 4\n0.1 0.2 0.3 1 2 -30 800 1 2 0.01 0.02\n0.5 0.4 0.3\n0.7\n3 4\n")
    instance = load("ba", tmp_path / "ba_tiny.txt")
    assert instance.size == 11 * 2 + 3 * 3 + 4 and instance.constants["n_cams"] == 2
    assert get_problem("ba").n_outputs(instance.size) == 12


def test_sizes_on_a_problem_with_presets_run_or_are_refused():
    """compare --sizes: a preset runs as asked; any other size is refused with the valid ones, never replaced; the
    default grid keeps the problems that take the sizes asked."""
    from adbench.compare import build_grid, sizes_for

    gmm = get_problem("gmm")
    assert sizes_for(gmm, [30, 330], quick=False) == (30, 330)
    with pytest.raises(
        ValueError,
        match=r"problem 'gmm' takes the sizes of its presets only, not 31; valid "
        r"choices: 18 \(D=2,K=3\), 30 \(D=2,K=5\).*--constants FILE",
    ):
        sizes_for(gmm, [30, 31], quick=False)
    assert sizes_for(get_problem("loss"), [7], quick=False) == (7,)
    problems = {s.problem for s in build_grid(None, ["manual"], None, [100], "float64", 0, False)}
    assert "gmm" not in problems and "loss" in problems


@pytest.mark.parametrize("name", [p.name for p in list_problems() if p.builtin])
def test_every_problem_says_how_it_stands_to_gradbench_and_adbench(name):
    """Its module's docstring (docs/problems.md collects them) names both suites: the same function, how it
    differs, or that the suite has none."""
    import sys

    doc = sys.modules[get_problem(name).function.__module__].__doc__
    assert "gradbench" in doc and "ADBench" in doc


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["--problems", "gmm", "--sizes", "31"],
            ("problem 'gmm' takes the sizes of its presets only, not 31; valid choices: 18 (D=2,K=3), 30 (D=2,K=5)"),
        ),
        (["--problems", "kmeans", "--sizes", "80,81"], "problem 'kmeans' takes the sizes of its presets only, not 81"),
        (["--problems", "gmm,lstm", "--constants", "x.npz"], "--constants FILE gives the instance of one problem"),
        (["--problems", "gmm", "--constants", "nowhere.npz"], "--constants: no such file 'nowhere.npz'"),
    ],
    ids=["gmm-31", "kmeans-81", "two-problems", "no-file"],
)
def test_compare_refuses_sizes_and_files_it_cannot_run(argv, message, capsys):
    """The command line's word, before any worker starts: exit 2 and the message."""
    from adbench.cli import main

    assert main(["compare", *argv]) == 2
    assert message in capsys.readouterr().err


def test_gradbench_ht_input_names_its_variant():
    """gradbench's one ht eval is two problems here: non-empty us is ht-complicated's input, empty us ht's."""
    from adbench.problems.inputs import from_gradbench

    with pytest.raises(ValueError, match="non-empty us is problem ht-complicated's, not ht's"):
        from_gradbench("ht", ht_gradbench_input(True))
    with pytest.raises(ValueError, match="empty us is problem ht's, not ht-complicated's"):
        from_gradbench("ht-complicated", ht_gradbench_input(False))
    with pytest.raises(ValueError, match="gradbench's kmeans input has no field 'centroids'"):
        from_gradbench("kmeans", {"points": [[0.0]]})
