"""Compiled, chunked and device variants: torch-compile, --chunk-size, --device.

torch-compile compiles every case (inductor: seconds each on a CPU, ~10 s for the first in a
process), so it is tested on a representative subset, in one `compare` run whose workers survive
its crashes: loss and tall, the Jacobian in both modes, loss's HVP reverse-over-reverse, and a
user function that cannot be compiled whole. Chunked Jacobians are tested on every registered
problem and both modes on jax and torch, with chunk sizes that do not divide n.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import availability, require_backend

import adbench
from adbench.engine.environment import visible_gpus
from adbench.engine.results import read_results
from adbench.engine.threads import worker_environment
from adbench.problems import get_problem, list_problems

ROOT = Path(__file__).resolve().parents[1]


def adbench_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 400):
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(cwd or "")])), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "adbench", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout
    )


def not_dividing(n: int) -> int:
    """The smallest chunk size of 2 or more that leaves a partial last chunk."""
    return next(k for k in range(2, n + 2) if n % k)


PROBLEMS = [p for p in list_problems() if p.builtin and not p.nested]
CHUNK_CASES = [(b, m, p.name) for b in ("jax", "torch") for m in ("forward", "reverse") for p in PROBLEMS]


@pytest.mark.parametrize("backend,mode,problem", CHUNK_CASES, ids=["-".join(c) for c in CHUNK_CASES])
def test_chunked_jacobian_agrees(backend, mode, problem):
    require_backend(backend)
    prob = get_problem(problem)
    n = min(prob.presets) if prob.presets else 5
    x = prob.inputs(n, seed=2)
    consts = prob.constants(x, seed=2)
    m = prob.n_outputs(n)
    chunk = not_dividing(n if mode == "forward" else max(m, 2))
    J = adbench.jacobian(problem, x, backend=backend, mode=mode, dtype="float64", chunk_size=chunk, **consts)
    ref = prob.reference_jacobian(x, **consts)
    assert J.shape == ref.shape
    assert np.max(np.abs(J - ref)) <= 1e-8 * np.max(np.abs(ref)), f"chunk {chunk}"


@pytest.mark.parametrize("backend", ["autograd", "manual", "torch-autograd"])
def test_backends_that_do_not_vectorise_refuse_chunks(backend):
    with pytest.raises(ValueError, match="does not chunk"):
        mode = adbench.get_backend(backend).modes_for("jacobian")[0]
        adbench.jacobian("loss", np.ones(4), backend=backend, mode=mode, chunk_size=2)


def test_chunking_lowers_the_memory_estimate():
    jax = adbench.get_backend("jax")
    full = jax.memory_estimate(10_000, 1, 10_000, 4, "jacobian", "forward")
    chunked = jax.memory_estimate(10_000, 1, 10_000, 4, "jacobian", "forward", chunk_size=100)
    assert chunked < full / 50


COMPILE_MODULE = textwrap.dedent("""
    def branchy(x, xp):
        # A Python branch on a value: torch.compile(fullgraph=True) must refuse it, not fall back.
        return xp.sum(xp.sin(x)) if float(x[0]) > 0 else xp.sum(x)
""")


@pytest.fixture(scope="module")
def compiled_run(tmp_path_factory):
    if not availability("torch-compile").available:
        pytest.skip(f"torch unavailable: {availability('torch-compile').reason}")
    folder = tmp_path_factory.mktemp("compiled")
    (folder / "compilefuncs.py").write_text(COMPILE_MODULE)
    csv = folder / "r.csv"
    common = [
        "--backends",
        "torch-compile",
        "--rounds",
        "1",
        "--budget",
        "0.01",
        "--timeout",
        "240",
        "--output",
        str(csv),
    ]
    out = adbench_cli(
        "compare",
        "--problems",
        "loss,tall",
        "--sizes",
        "3",
        "--operations",
        "jacobian,hvp",
        "--modes",
        "forward,reverse,reverse-over-reverse",
        "--problem",
        "compilefuncs:branchy",
        *common,
        cwd=folder,
    )
    frame, _ = read_results(csv)
    return out, frame


def test_torch_compile_reverse_cases_agree(compiled_run):
    _, frame = compiled_run
    rows = frame.set_index(["problem", "operation", "mode"])
    for key in [
        ("loss", "jacobian", "reverse"),
        ("tall", "jacobian", "reverse"),
        ("tall", "jacobian", "forward"),
        ("loss", "hvp", "reverse-over-reverse"),
    ]:
        row = rows.loc[key]
        assert row["status"] == "ok", (key, row["error"])
        assert row["rel_error"] <= row["tolerance"]
        assert row["first_call_s"] > 10 * row["median_s"], "the first call compiles"


def test_torch_compile_failures_are_error_rows_not_fallbacks(compiled_run):
    out, frame = compiled_run
    rows = frame.set_index(["problem", "operation", "mode"])
    branchy = rows.loc[("compilefuncs:branchy", "jacobian", "reverse")]
    assert branchy["status"] == "error"
    # The compiler's own exception and message (torch._dynamo refuses a data-dependent branch).
    assert branchy["error"].startswith("torch._dynamo."), branchy["error"]
    # Forward mode over loss's 1-D matmul crashes inductor's code in torch 2.13 (SIGSEGV): the crash
    # is a recorded error naming the signal, and the run went on to the other cases.
    forward = rows.loc[("loss", "jacobian", "forward")]
    assert forward["status"] in ("ok", "error")
    if forward["status"] == "error":
        assert "SIGSEGV" in forward["error"] or "worker process died" in forward["error"]
    assert out.returncode == 1  # a case errored


@pytest.mark.skipif(bool(visible_gpus()), reason="a GPU is visible here: --device cuda is valid")
def test_device_cuda_is_refused_without_a_gpu(tmp_path):
    out = adbench_cli("compare", "--device", "cuda", "--output", str(tmp_path / "r.csv"))
    assert out.returncode == 2
    assert "no CUDA GPU is visible here" in out.stderr and "devices found: cpu" in out.stderr
    assert not (tmp_path / "r.csv").exists()


def test_device_cuda_api_without_a_gpu_is_a_clear_error():
    require_backend("torch")
    if visible_gpus():
        pytest.skip("a GPU is visible here")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        adbench.jacobian("loss", np.ones(3), backend="torch", mode="reverse", device="cuda")
    with pytest.raises(ValueError, match="runs on cpu only, not cuda"):
        adbench.jacobian("loss", np.ones(3), backend="autograd", mode="reverse", device="cuda")


def test_a_cpu_run_pins_jax_to_the_cpu(tmp_path):
    assert worker_environment(1, base={}, device="cpu")["JAX_PLATFORMS"] == "cpu"
    assert "JAX_PLATFORMS" not in worker_environment(1, base={}, device=None)
    require_backend("jax")
    csv = tmp_path / "r.csv"
    out = adbench_cli(
        "compare",
        "--problems",
        "basic",
        "--backends",
        "jax",
        "--operations",
        "jacobian",
        "--rounds",
        "1",
        "--budget",
        "0.002",
        "--output",
        str(csv),
    )
    assert out.returncode == 0, out.stderr
    frame, meta = read_results(csv)
    assert set(frame["device"]) == {"cpu"}
    builds = meta["environment"]["framework_builds"]["jax"]
    assert builds["backend"] == "cpu" and all(
        d.startswith(("TFRT_CPU", "CpuDevice", "cpu")) or "cpu" in d.lower() for d in builds["devices"]
    ), json.dumps(builds)


def test_float32_matmuls_are_full_precision_for_every_framework(tmp_path):
    """XLA's GPU default is TF32 (~1e-3 relative error); workers ask for full float32, as torch's default."""
    for device in ("cpu", "cuda", None):
        assert worker_environment(1, base={}, device=device)["JAX_DEFAULT_MATMUL_PRECISION"] == "highest"
    assert (
        worker_environment(1, base={"JAX_DEFAULT_MATMUL_PRECISION": "float32"})["JAX_DEFAULT_MATMUL_PRECISION"]
        == "float32"
    ), "a user's own setting stays"
    require_backend("jax")
    require_backend("torch")
    csv = tmp_path / "r.csv"
    out = adbench_cli(
        "compare",
        "--problems",
        "basic",
        "--backends",
        "jax,torch",
        "--operations",
        "jacobian",
        "--rounds",
        "1",
        "--budget",
        "0.002",
        "--output",
        str(csv),
    )
    assert out.returncode == 0, out.stderr
    builds = read_results(csv)[1]["environment"]["framework_builds"]
    assert builds["jax"]["matmul_precision"] == "highest"
    assert builds["torch"]["matmul_precision"] == "highest"
