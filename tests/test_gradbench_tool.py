"""``python -m adbench gradbench-tool``: driven like gradbench drives a tool, by scripted protocol messages in a
subprocess (gradbench's CONTRIBUTING.md protocol, js/common/protocol.ts), on every framework installed here;
answers checked against the problems' float64 references, in each eval's own layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adbench.engine.checking import TOLERANCE
from adbench.gradbench import evals, protocol
from adbench.gradbench.inputs import gradbench_input
from adbench.gradbench.reference import max_relative_error, reference_output

ROOT = Path(__file__).resolve().parents[1]
# The five frameworks gradbench's harness would meet here, MLX in float32 (it refuses float64 on this CPU).
BACKENDS = ["jax", "torch", "torch-autograd", "autograd", "tensorflow", "mlx"]
TOOL_TIMEOUT_S = 600


def run_tool(
    backend: str, lines: list, timeout: float = TOOL_TIMEOUT_S
) -> tuple[list[dict], subprocess.CompletedProcess]:
    """The tool's responses to ``lines`` (messages as dicts, or raw strings sent as they are), in order."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "adbench", "gradbench-tool", "--backend", backend],
        input=text,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )
    responses = [json.loads(line) for line in proc.stdout.splitlines()]
    return responses, proc


def skip_if_unavailable(start_response: dict) -> None:
    """Skip (not fail) where the tool says its backend cannot load here, with its reason."""
    if "unavailable" in start_response.get("config", {}):
        pytest.skip(start_response["config"]["unavailable"])


def evaluate(id: int, module: str, function: str, input) -> dict:
    return {"id": id, "kind": "evaluate", "module": module, "function": function, "input": input}


def assert_runs(response: dict, runs: int) -> None:
    """One prepare, one first call, and exactly one positive 'evaluate' timing per run."""
    names = [t["name"] for t in response["timings"]]
    assert names == [protocol.PREPARE, protocol.FIRST_CALL] + [protocol.EVALUATE] * runs, names
    assert all(isinstance(t["nanoseconds"], int) and t["nanoseconds"] > 0 for t in response["timings"])


def assert_agrees(response: dict, module: str, function: str, input, dtype: str) -> None:
    assert response["success"], response.get("error")
    err = max_relative_error(response["output"], reference_output(module, function, input))
    # The correctness gate's float64 and float32 tolerances (adbench.engine.checking).
    assert err <= TOLERANCE[dtype], f"{module}::{function}: relative error {err:.2e}"


# -- the scripted session, on every framework ------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_scripted_session(backend):
    """start, define, evaluate with min_runs > 1, a function the eval lacks, a module never defined, malformed
    and unknown lines, an analysis, end: every line answered in order, the answers right, and the tool exits 0
    at end without answering it (gradbench's eval reads no answer to end) or anything after it."""
    lse = gradbench_input("lse", min_runs=3)
    lines = [
        {"id": 0, "kind": "start", "eval": "lse"},
        {"id": 1, "kind": "define", "module": "hello"},
        evaluate(2, "hello", "square", 3.0),
        evaluate(3, "hello", "double", 3.0),
        {"id": 4, "kind": "define", "module": "lse"},
        evaluate(5, "lse", "gradient", lse),
        evaluate(6, "lse", "hessian", lse),
        evaluate(7, "gmm", "objective", gradbench_input("gmm")),
        "{not json",
        {"id": 8, "kind": "launch"},
        {"id": 9, "kind": "analysis", "of": 5, "valid": True},
        {"id": 10, "kind": "define", "module": "no-such-eval"},
        {"id": 11, "kind": "end"},
        {"id": 12, "kind": "start"},
    ]
    responses, proc = run_tool(backend, lines)
    assert proc.returncode == 0, proc.stderr[-2000:]
    start = responses[0]
    skip_if_unavailable(start)
    assert [r["id"] for r in responses] == [0, 1, 2, 3, 4, 5, 6, 7, None, 8, 9, 10], responses
    config = start["config"]
    assert start["tool"] == f"adbench-{backend}" and config["backend"] == backend and config["threads"] == 1
    dtype = "float32" if backend == "mlx" else "float64"
    assert config["dtype"] == dtype and config["version"]
    if dtype == "float32":
        assert "float64" in config["dtype_reason"]  # the backend's own words: why not float64
    assert responses[1] == {"id": 1, "success": True} and responses[4] == {"id": 4, "success": True}
    assert responses[2]["output"] == 9.0 and responses[3]["output"] == 6.0
    assert_runs(responses[2], 1)  # hello's input has no Runs: once
    assert_agrees(responses[5], "lse", "gradient", lse, dtype)
    assert_runs(responses[5], 3)
    lacking, undefined, malformed, unknown = responses[6], responses[7], responses[8], responses[9]
    assert not lacking["success"] and "'hessian'" in lacking["error"] and "primal, gradient" in lacking["error"]
    assert not undefined["success"] and "'gmm' was not defined" in undefined["error"]
    assert not malformed["success"] and "not a JSON message" in malformed["error"]
    assert not unknown["success"] and '"launch"' in unknown["error"] and "evaluate" in unknown["error"]
    assert responses[10] == {"id": 9}
    assert not responses[11]["success"] and "hello, ba, det" in responses[11]["error"]
    assert "Traceback" not in proc.stdout


def test_eof_ends_cleanly_and_min_seconds_is_met():
    """No end message: EOF ends the tool with status 0. With min_seconds, runs go on until their total
    reaches it (at least min_runs of them)."""
    lse = gradbench_input("lse", min_runs=2, min_seconds=0.05)
    responses, proc = run_tool(
        "autograd",
        [{"id": 0, "kind": "start"}, {"id": 1, "kind": "define", "module": "lse"}, evaluate(2, "lse", "primal", lse)],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    skip_if_unavailable(responses[0])
    runs = [t["nanoseconds"] for t in responses[2]["timings"] if t["name"] == protocol.EVALUATE]
    assert len(runs) >= 2 and sum(runs) >= 0.05e9


# -- every eval's functions on every framework: the full matrix (slow) ------------------------------------------
# A finding, not the tool's: the MLX backend's particle comes back 0 for every composition in float32, through
# the API too (adbench.nested("particle", [0.0], backend="mlx", dtype="float32", dt=1.0, eta=1e-2) -> [0.]; torch
# in float32 gives 0.381976, the reference 0.38197624). Strict: the day it is fixed, this says so.
KNOWN = {("particle", "mlx"): "adbench's MLX backend returns 0 for particle in float32 (every composition)"}


def _matrix() -> list:
    return [
        pytest.param(
            module,
            backend,
            id=f"{module}-{backend}",
            marks=[pytest.mark.slow]
            + ([pytest.mark.xfail(reason=KNOWN[module, backend], strict=True)] if (module, backend) in KNOWN else []),
        )
        for module in evals.EVALS
        for backend in BACKENDS
    ]


def _inputs(module: str) -> list:
    if module == "ht":  # both variants go through the one ht eval: us empty or not
        return [gradbench_input("ht", min_runs=2), gradbench_input("ht", complicated=True, min_runs=2)]
    if module in ("particle", "saddle"):  # the light step sizes: gradbench's take minutes a call on eager ones
        return [gradbench_input(module, min_runs=2, light=True)]
    return [gradbench_input(module, min_runs=2)]


@pytest.mark.parametrize(("module", "backend"), _matrix())
def test_every_function_agrees(module, backend):
    """Each function of the eval answered on the backend, agreeing with the float64 reference, two runs each;
    a composition the backend lacks (TensorFlow has no forward-over-anything nested ad) is an error that
    names what it offers."""
    functions = evals.EVALS[module][0]
    lines: list = [{"id": 0, "kind": "start"}, {"id": 1, "kind": "define", "module": module}]
    asked = []
    for input in _inputs(module):
        for function in functions:
            lines.append(evaluate(len(lines), module, function, input))
            asked.append((function, input))
    responses, proc = run_tool(backend, lines)
    assert proc.returncode == 0, proc.stderr[-2000:]
    skip_if_unavailable(responses[0])
    dtype = responses[0]["config"]["dtype"]
    for (function, input), response in zip(asked, responses[2:]):
        if not response["success"] and "offers no" in response.get("error", ""):
            continue  # the backend's own refusal of a mode, said with the modes it offers
        assert_agrees(response, module, function, input, dtype)
        assert_runs(response, 2 if isinstance(input, dict) else 1)  # hello's bare number has no Runs: once


# -- the protocol and the layouts, in-process -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("[1, 2]", "a JSON object"),
        ('{"kind": "start"}', "integer 'id'"),
        ('{"id": true, "kind": "start"}', "integer 'id'"),
        ('{"id": 3, "kind": "define"}', "needs the field 'module'"),
        ('{"id": 3, "kind": "evaluate", "module": "lse", "function": "primal"}', "needs the field 'input'"),
        ('{"id": 3, "kind": "analysis", "of": "2", "valid": true}', "integer 'of'"),
        ('{"id": 3, "kind": 7}', "unknown message kind"),
    ],
)
def test_malformed_lines_are_protocol_errors(line, words):
    with pytest.raises(protocol.ProtocolError, match=words):
        protocol.parse(line)


@pytest.mark.parametrize(
    ("input", "words"),
    [
        ({"min_runs": 0}, "min_runs"),
        ({"min_runs": 1.5}, "min_runs"),
        ({"min_runs": 2, "min_seconds": -1}, "min_seconds"),
        ({"min_runs": 2, "min_seconds": "1"}, "min_seconds"),
    ],
)
def test_bad_runs_are_named(input, words):
    with pytest.raises(protocol.ProtocolError, match=words):
        protocol.runs(input, 4)


def test_runs_defaults_and_an_older_evals_runs():
    assert protocol.runs(3.0) == protocol.Runs(1, 0.0)  # hello
    assert protocol.runs({"runs": 4}) == protocol.Runs(4, 0.0)
    assert protocol.runs({"min_runs": 2, "min_seconds": 0.5}) == protocol.Runs(2, 0.5)


def test_output_that_json_cannot_carry_becomes_a_failure():
    line = protocol.encode({"id": 5, "success": True, "output": [float("nan")], "timings": []})
    response = json.loads(line)
    assert response["id"] == 5 and not response["success"] and "NaN" in response["error"]


def test_ba_layouts_are_gradbenchs():
    """ba's objective is compressed to one observation's residuals and counts, its Jacobian to the first 30
    CSR entries (the first observation's two rows of 11 camera, 3 point, 1 weight columns) and the last."""
    input = gradbench_input("ba")
    objective = reference_output("ba", "objective", input)
    assert objective["reproj_error"]["repeated"] == input["p"] and len(objective["reproj_error"]["elements"]) == 2
    assert objective["w_err"] == {"element": 1 - input["w"] ** 2, "repeated": input["p"]}
    J = reference_output("ba", "jacobian", input)
    n, m, p = input["n"], input["m"], input["p"]
    assert len(J["rows"]) == len(J["cols"]) == len(J["vals"]) == 31
    assert J["rows"][:3] == [0, 15, 30] and J["rows"][-1] == 31 * p
    assert J["cols"][:15] == [*range(11), 11 * n, 11 * n + 1, 11 * n + 2, 11 * n + 3 * m]
    assert J["cols"][-1] == 11 * n + 3 * m + p - 1 and J["vals"][-1] == pytest.approx(-2 * input["w"])


def test_ht_jacobian_layouts_are_gradbenchs():
    """Simple: 3N rows of 26; complicated: 3N rows of 2 (each point's us) + 26."""
    simple = gradbench_input("ht")
    J = np.asarray(reference_output("ht", "jacobian", simple))
    assert J.shape == (3 * len(simple["data"]["points"]), 26)
    complicated = gradbench_input("ht", complicated=True)
    J = np.asarray(reference_output("ht", "jacobian", complicated))
    assert J.shape == (3 * len(complicated["data"]["points"]), 28) and np.all(np.any(J[:, :2] != 0, axis=1))


def test_kmeans_dir_is_the_newton_direction():
    input = gradbench_input("kmeans")
    direction = np.asarray(reference_output("kmeans", "dir", input))
    P, C = np.asarray(input["points"]), np.asarray(input["centroids"])
    nearest = np.argmin(((P[:, None, :] - C[None, :, :]) ** 2).sum(-1), axis=1)
    for j in range(C.shape[0]):  # J / H = 2 (n_j C_j - sum P_i) / (2 n_j) = C_j - mean of its points
        np.testing.assert_allclose(direction[j], C[j] - P[nearest == j].mean(0), rtol=1e-12, atol=1e-12)


def test_unknown_function_names_the_eval_functions():
    with pytest.raises(ValueError, match="its functions: cost, dir"):
        evals.plan("kmeans", "objective", gradbench_input("kmeans"))


def test_usage_errors_name_the_choices(capsys):
    from adbench.cli import main

    assert main(["gradbench-tool", "--backend", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'nope'" in err and "jax" in err and "manual" not in err.split("choices:")[1]
    assert main(["gradbench-tool"]) == 2 and "--backend is required" in capsys.readouterr().err


def test_list_says_which_backends_run_and_why_not(monkeypatch, capsys):
    from adbench import backends
    from adbench.backends import BackendInfo
    from adbench.cli import main
    from adbench.gradbench import tool

    def info(name):
        ok = name != "mlx"
        return BackendInfo(name, name, (), {}, ok, "1.0" if ok else None, None if ok else "ImportError: no mlx", "")

    monkeypatch.setattr(backends, "backend_info", info)
    monkeypatch.setattr(tool, "run_dtype", lambda name: ("float64", None))
    assert main(["gradbench-tool", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in tool.tool_backends()) and "unavailable: ImportError: no mlx" in out
    assert "finite-diff" not in out and all(len(line) <= 100 for line in out.splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("module", ["particle", "saddle"])
def test_nested_at_gradbenchs_step_sizes_gives_gradbenchs_result(module):
    """gradbench's own input (its step sizes) on JAX: every composition ends where gradbench's validator
    expects (its evals' published numbers, kept in the registry), once per message."""
    input = gradbench_input(module)
    lines = [{"id": 0, "kind": "start"}, {"id": 1, "kind": "define", "module": module}]
    lines += [evaluate(2 + i, module, f, input) for i, f in enumerate(evals.NESTED_MODES)]
    responses, proc = run_tool("jax", lines)
    assert proc.returncode == 0, proc.stderr[-2000:]
    skip_if_unavailable(responses[0])
    from adbench.problems import get_problem

    expected = get_problem(module).extra["gradbench_expected"]
    for response in responses[2:]:
        assert response["success"], response.get("error")
        np.testing.assert_allclose(response["output"], expected, rtol=1e-9)
