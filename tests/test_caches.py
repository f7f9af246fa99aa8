"""What adbench keeps between runs: references computed once (hit, miss, invalidation by every part of the key,
damaged entries, concurrent writers) and a first call labelled by where its compiled code came from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from adbench.engine import caches
from adbench.engine.cases import CaseSpec, build_case, cache_label

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(caches.NO_CACHE_ENV, raising=False)
    return tmp_path


def _plain_inputs(spec: CaseSpec) -> dict:
    from adbench.engine.cases import direction
    from adbench.problems import get_problem

    problem = get_problem(spec.problem)
    x = problem.inputs(spec.size, spec.seed)
    constants = problem.constants(x, spec.seed)
    m = problem.known_n_outputs(spec.size) or problem.n_outputs(spec.size)
    return {"x": x, "constants": constants, "direction": direction(problem, spec.operation, spec.size, m, spec.seed)}


def _key(spec: CaseSpec, inputs: dict | None = None) -> str:
    return caches.reference_key(
        spec.problem, spec.size, spec.operation, spec.dtype, spec.seed, inputs or _plain_inputs(spec)
    )


def test_a_reference_is_computed_once_then_read(cache_dir):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(6.0).reshape(2, 3), "exact"

    key = _key(CaseSpec("loss", 50, "jax", "reverse"))
    ref, kind, kept = caches.cached_reference(key, compute)
    assert not kept and kind == "exact" and len(calls) == 1
    ref2, kind2, kept2 = caches.cached_reference(key, compute)
    assert kept2 and kind2 == "exact" and len(calls) == 1 and np.array_equal(ref, ref2)
    assert list((cache_dir / "references").glob("*.npz")) and not list((cache_dir / "references").glob("*.tmp"))


def test_the_check_reads_the_kept_reference_for_every_backend_of_a_group(cache_dir, monkeypatch):
    from adbench.engine import checking

    computed = []
    real = checking.reference
    monkeypatch.setattr(checking, "reference", lambda *a, **k: computed.append(1) or real(*a, **k))
    for backend, mode in (("manual", "manual"), ("finite-diff", "central")):
        spec = CaseSpec("tall", 8, backend, mode)
        problem, prepared, inputs = build_case(spec)
        verdict = checking.check(spec, problem, prepared.to_numpy(prepared.call()), inputs)
        assert verdict["reference"] == "exact" and "status" not in verdict
    assert len(computed) == 1, "the second backend read the first one's reference"


BASE = CaseSpec("loss", 50, "jax", "reverse")


@pytest.mark.parametrize(
    "changed",
    [
        CaseSpec("loss", 60, "jax", "reverse"),  # size
        CaseSpec("loss", 50, "jax", "reverse", seed=1),  # seed
        CaseSpec("loss", 50, "jax", "reverse", dtype="float64"),  # dtype
        CaseSpec("loss", 50, "jax", "reverse", operation="hvp"),  # operation
        CaseSpec("basic", 2, "jax", "reverse"),  # problem
    ],
    ids=["size", "seed", "dtype", "operation", "problem"],
)
def test_every_part_of_the_key_invalidates(changed, cache_dir):
    assert _key(changed) != _key(BASE)
    assert _key(BASE) == _key(CaseSpec("loss", 50, "torch", "forward")), "backend and mode share one reference"


def test_other_inputs_constants_or_code_invalidate(cache_dir, monkeypatch):
    inputs = _plain_inputs(BASE)
    key = _key(BASE, inputs)
    moved = {**inputs, "x": inputs["x"] + 1e-12}
    assert _key(BASE, moved) != key, "a changed input generator changes the key"
    assert _key(BASE, {**inputs, "constants": {"scale": 2.0}}) != key
    caches.code_fingerprint.cache_clear()
    monkeypatch.setattr("adbench.__version__", "9.9.9")
    try:
        assert _key(BASE, inputs) != key, "another adbench version computes its references again"
    finally:
        caches.code_fingerprint.cache_clear()
    assert (
        caches.reference_key("loss", 50, "jacobian", "float32", 0, {"x": inputs["x"], "constants": {"f": object()}})
        is None
    )


def test_a_damaged_entry_is_computed_again(cache_dir):
    key = _key(BASE)
    caches.store_reference(key, np.ones(3), "exact")
    path = cache_dir / "references" / f"{key}.npz"
    path.write_bytes(path.read_bytes()[:20])  # a half-written file from another disk, say
    ref, kind, kept = caches.cached_reference(key, lambda: (np.zeros(3), "approximate"))
    assert not kept and kind == "approximate" and np.array_equal(ref, np.zeros(3))
    assert caches.load_reference(key)[1] == "approximate"


def test_sparse_and_absent_references_round_trip(cache_dir):
    import scipy.sparse

    m = scipy.sparse.csr_matrix(np.array([[0.0, 2.0], [3.0, 0.0]]))
    caches.store_reference("sparse", m, "exact")
    ref, kind = caches.load_reference("sparse")
    assert kind == "exact" and (ref != m).nnz == 0
    caches.store_reference("none", None, "none")
    assert caches.load_reference("none") == (None, "none")


def test_no_cache_keeps_nothing(cache_dir, monkeypatch):
    monkeypatch.setenv(caches.NO_CACHE_ENV, "1")
    assert caches.cache_root() is None and caches.compile_cache_dir() is None
    calls = []
    for _ in range(2):
        caches.cached_reference("k", lambda: calls.append(1) or (np.ones(2), "exact"))
    assert len(calls) == 2 and not (cache_dir / "references").exists()


def _write_many(args: tuple[str, int]) -> None:
    folder, seed = args
    os.environ[caches.CACHE_ENV] = folder
    big = np.random.default_rng(seed % 2).standard_normal(200_000)  # two contents: a torn mix would be neither
    for _ in range(5):
        caches.store_reference("same", big, "exact")


def test_concurrent_writers_leave_one_whole_entry(cache_dir):
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_write_many, [(str(cache_dir), i) for i in range(8)]))
    ref, kind = caches.load_reference("same")
    assert kind == "exact" and any(
        np.array_equal(ref, np.random.default_rng(s).standard_normal(200_000)) for s in (0, 1)
    )
    assert not list((cache_dir / "references").glob("*.tmp")), "no temporary file is left behind"


@pytest.mark.parametrize(
    "before, after, label",
    [
        (None, None, None),
        ((0, 0), (0, 0), None),
        ((0, 0), (0, 2), "cold"),
        ((3, 1), (4, 1), "hit"),
        ((0, 0), (1, 1), "partial"),
    ],
)
def test_first_call_cache_label(before, after, label):
    assert cache_label(before, after) == label


FIRST_BUILD = """
import json, sys
from adbench.engine.cases import CaseSpec, first_build, warm_up
spec = CaseSpec("loss", 200, "jax", "reverse")
warm_up(spec)
answer, _ = first_build(spec)
print(json.dumps({"label": answer["first_call_cache"], "first_call_s": answer["first_call_s"]}))
"""


def test_a_jax_first_call_is_labelled_cold_then_a_cache_hit(tmp_path):
    pytest.importorskip("jax")
    from adbench.engine.threads import worker_environment

    env = worker_environment(1, kept_compiles=str(tmp_path / "compile"))
    env.update(PYTHONPATH=str(ROOT), **{caches.CACHE_ENV: str(tmp_path)})
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", FIRST_BUILD], env=env, capture_output=True, text=True, timeout=120, check=True
            ).stdout.splitlines()[-1]
        )
        for _ in range(2)
    ]
    assert [r["label"] for r in runs] == ["cold", "hit"]
