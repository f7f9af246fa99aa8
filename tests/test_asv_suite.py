"""The asv suite in benchmarks/: light to import, generated from the registry, skipping instead of failing.

What a benchmark process does (import, set-up, timed body) is checked in a subprocess, so the
thread pinning and environment it sets never reach this pytest process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adbench.backends import backend_names, get_backend
from adbench.problems import list_problems, problem_from_function
from adbench.problems import _registry
from adbench.backends import OPERATIONS
from adbench.engine.threads import THREAD_VARIABLES, worker_environment

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("jax", "torch", "autograd", "tensorflow", "mlx")


def run_python(code: str, threads: str | None = None, timeout: float = 120) -> dict:
    """Run ``code`` from the repository root (where asv finds ``benchmarks``); it prints one JSON line."""
    # A fresh user's environment: TF_CPP_MIN_LOG_LEVEL too, which TensorFlow, once imported by an earlier
    # test in this process, leaves in os.environ (a user's own value stays: tests/test_tensorflow_mlx.py).
    env = {k: v for k, v in os.environ.items()
           if k not in THREAD_VARIABLES and k not in ("XLA_FLAGS", "TF_CPP_MIN_LOG_LEVEL")}
    env.pop("ADBENCH_THREADS", None)
    if threads is not None:
        env["ADBENCH_THREADS"] = threads
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def suite():
    """benchmarks.ad and benchmarks._common, imported here with os.environ restored afterwards."""
    saved = dict(os.environ)
    sys.path.insert(0, str(ROOT))
    try:
        import benchmarks.ad as ad
        import benchmarks.environment as environment
        from benchmarks import _common

        yield ad, environment, _common
    finally:
        sys.path.remove(str(ROOT))
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def common(suite, monkeypatch):
    """``_common`` with empty caches, and set-up that never pins this process's threads."""
    _, _, common = suite
    caches = (common.warm_case, common.timed_call, common.timed_function, common._availability)
    for cached in caches:
        cached.cache_clear()
    monkeypatch.setattr(common, "pin_threads", lambda: None)
    yield common
    for cached in caches:
        cached.cache_clear()


@pytest.mark.parametrize("threads", [None, "2"])
def test_import_is_light_and_sets_threads_like_adbench(threads):
    got = run_python(
        "import json, os, sys\n"
        "import benchmarks.ad, benchmarks.environment\n"
        f"print(json.dumps({{'loaded': [m for m in {FRAMEWORKS!r} if m in sys.modules],"
        " 'env': dict(os.environ)}))",
        threads=threads,
    )
    assert got["loaded"] == [], "importing the suite must not import an AD framework"
    expected = worker_environment(int(threads or 1), base={}, device=None)
    assert "JAX_PLATFORMS" not in got["env"], "each asv case places its arrays on its own device"
    for var, value in expected.items():
        if var == "XLA_FLAGS":
            assert value in got["env"][var]
        else:
            assert got["env"][var] == value, var
    if threads == "2":
        assert "xla_cpu_multi_thread_eigen" not in got["env"].get("XLA_FLAGS", "")


def test_params_come_from_registry(suite):
    ad, environment, common = suite
    cases = [f"{p.name}-{n}" for p in list_problems() if not p.nested for n in p.run_sizes]
    backends = backend_names(default_only=True)
    # For HVPs and Hessians, the two compositions a plain `compare` runs (ADBENCH_ASV_MODES=all: four).
    pairs = {(b, m) for b in backends for m in get_backend(b).modes
             if "-over-" not in m or m in ("forward-over-reverse", "reverse-over-reverse")}
    for cls, method, ops in ((ad.Derivative, "time_derivative", OPERATIONS),
                             (ad.FirstCall, "track_first_call", ("jacobian", "hvp", "sparse-jacobian")),
                             (ad.Memory, "track_peak_memory", ("jacobian", "hvp", "sparse-jacobian"))):
        problems, operations, variants, devices = cls.params
        assert cls.param_names == ("problem", "operation", "backend", "device")
        assert list(problems) == cases, cls
        assert list(operations) == list(ops)
        assert {common.variant_labels()[v] for v in variants} == pairs, cls
        assert devices[0] == "cpu"
        assert callable(getattr(cls, method))
    assert ad.Function.params[:2] == (cases, backends)
    for p in list_problems():
        assert any(label.rpartition("-")[0] == p.name for label in ad.Derivative.params[0]) != p.nested
    assert environment.Versions.params == sorted({get_backend(b).framework for b in backends})
    assert ad.FirstCall.unit == "seconds" and ad.Memory.unit == "bytes"


def test_nested_problems_join_the_suite_when_asked(suite, monkeypatch):
    _, _, common = suite
    assert not {"particle", "saddle"} & {p.name for p in common.suite_problems()}
    assert {"llsq", "lse", "det", "kmeans"} <= {p.name for p in common.suite_problems()}
    monkeypatch.setenv("ADBENCH_ASV_PROBLEMS", "all")
    assert {"particle", "saddle"} <= {p.name for p in common.suite_problems()}
    monkeypatch.setenv("ADBENCH_ASV_PROBLEMS", "particle")
    assert common.case_labels() == ["particle-1"]


def test_backends_are_chosen_by_their_metadata(suite, monkeypatch):
    _, _, common = suite
    assert "torch-compile" not in common.suite_backends() and "jax-eager" not in common.suite_backends()
    monkeypatch.setenv("ADBENCH_ASV_BACKENDS", "all")
    assert "torch-compile" in common.suite_backends()
    monkeypatch.setenv("ADBENCH_ASV_BACKENDS", "jax,manual")
    assert common.suite_backends() == ["jax", "manual"]


def test_a_case_over_the_memory_guard_skips(common, suite, monkeypatch):
    ad, _, _ = suite
    monkeypatch.setattr(common, "MEMORY_LIMIT_BYTES", 1)
    case = common.case_labels()[0]
    for cls in (ad.Derivative, ad.FirstCall, ad.Memory):
        with pytest.raises(NotImplementedError, match="exceeds the limit"):
            cls().setup(case, "jacobian", "manual", "cpu")
    ad.Function().setup(case, "manual", "cpu")  # f is not the Jacobian: the guard does not apply


def test_an_unsupported_combination_skips(common, suite, monkeypatch):
    ad, _, _ = suite
    user = problem_from_function(lambda x, xp: xp.sin(x), name="user_f")
    monkeypatch.setitem(_registry._REGISTRY, "user_f", user)
    for cls in (ad.Derivative, ad.FirstCall, ad.Memory):
        with pytest.raises(NotImplementedError, match="no hand-written Jacobian"):
            cls().setup("user_f-10", "jacobian", "manual", "cpu")
    with pytest.raises(NotImplementedError, match="hvp needs a scalar-valued problem"):
        ad.Derivative().setup("user_f-10", "hvp", "jax-forward-over-reverse", "cpu")
    with pytest.raises(NotImplementedError, match="offers no 'forward' hvp"):
        ad.Derivative().setup("loss-1000", "hvp", "jax-forward", "cpu")
    with pytest.raises(NotImplementedError, match="runs on cpu only, not cuda"):
        ad.Derivative().setup("loss-1000", "jacobian", "autograd-reverse", "cuda")


def test_an_unavailable_backend_skips(common, suite, monkeypatch):
    ad, environment, _ = suite
    monkeypatch.setattr(common, "_availability", lambda backend: "ModuleNotFoundError: No module named 'jax'")
    with pytest.raises(NotImplementedError, match="unavailable"):
        ad.Derivative().setup(common.case_labels()[0], "jacobian", "jax-reverse", "cpu")
    with pytest.raises(NotImplementedError, match="unavailable"):
        environment.Versions().setup("jax")


def test_an_unknown_label_fails_loudly(common, suite):
    ad, _, _ = suite
    with pytest.raises(KeyError):
        ad.Derivative().setup(common.case_labels()[0], "jacobian", "no-such-backend", "cpu")


def test_version_number(suite):
    _, _, common = suite
    assert common.version_number("2.13.0+cpu") == 21300
    assert common.version_number("0.10.2") == 1002
    assert common.version_number("1.9") == 10900
    assert common.version_number("2.4.0rc1") == 20400


# One subprocess plays a forkserver-launched benchmark process: preload, then fork-free set-up and
# bodies of the registry's smallest case on each framework's reverse mode and the NumPy baseline.
PROCESS = r"""
import json, os, sys
import benchmarks._preload
tasks = len(os.listdir("/proc/self/task"))
from benchmarks import THREADS, ad, environment, _common
from adbench.backends import get_backend
case = min(_common.case_labels(), key=lambda c: int(c.rpartition("-")[2]))
scalar = "loss-" + str(min(n for n in (int(c.rpartition("-")[2]) for c in _common.case_labels() if c.startswith("loss-"))))
report = {"tasks_after_preload": tasks, "case": case, "results": {}}
for label, problem, operation, variant in (
        ("manual", case, "jacobian", "manual"), ("autograd-reverse", case, "jacobian", "autograd-reverse"),
        ("jax-reverse", case, "jacobian", "jax-reverse"), ("torch-reverse", case, "jacobian", "torch-reverse"),
        ("jax-hvp", scalar, "hvp", "jax-forward-over-reverse"), ("torch-vjp", scalar, "vjp", "torch-reverse")):
    try:
        d, f, fc, m = ad.Derivative(), ad.Function(), ad.FirstCall(), ad.Memory()
        backend = _common.spec_for(problem, operation, variant).backend
        d.setup(problem, operation, variant, "cpu"); d.time_derivative(problem, operation, variant, "cpu")
        f.setup(problem, backend, "cpu"); f.time_function(problem, backend, "cpu")
        fc.setup(problem, operation, variant, "cpu"); first = fc.track_first_call(problem, operation, variant, "cpu")
        m.setup(problem, operation, variant, "cpu"); peak = m.track_peak_memory(problem, operation, variant, "cpu")
        v = environment.Versions(); framework = get_backend(backend).framework
        v.setup(framework); version = v.track_framework_version(framework)
        report["results"][label] = {"number": d.number, "f_number": f.number, "first_call": first,
                                    "peak": peak, "version": version}
    except NotImplementedError as exc:
        report["results"][label] = {"skip": str(exc)}
report["affinity"] = sorted(os.sched_getaffinity(0))
if "torch" in sys.modules:
    report["torch_threads"] = sys.modules["torch"].get_num_threads()
try:
    from threadpoolctl import threadpool_info
    report["blas_threads"] = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
except ImportError:
    pass
report["threads"] = THREADS
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def benchmark_process():
    return run_python(PROCESS, timeout=300)


def test_preloading_starts_no_thread(benchmark_process):
    # The forkserver forks after the preload; a thread alive then would not survive the fork.
    assert benchmark_process["tasks_after_preload"] == 1


@pytest.mark.parametrize("variant", ["manual", "autograd-reverse", "jax-reverse", "torch-reverse", "jax-hvp", "torch-vjp"])
def test_a_tiny_case_runs(benchmark_process, variant):
    result = benchmark_process["results"][variant]
    if "skip" in result:
        pytest.skip(f"{variant} on {benchmark_process['case']}: {result['skip']}")
    assert result["number"] >= 1 and result["f_number"] >= 1
    assert 0 < result["first_call"] < 60
    assert result["peak"] is None or result["peak"] >= 0
    assert result["version"] > 0


def test_a_benchmark_process_runs_on_its_threads(benchmark_process):
    threads = benchmark_process["threads"]
    assert threads == 1
    assert len(benchmark_process["affinity"]) == min(threads, os.cpu_count())
    if "torch_threads" in benchmark_process:
        assert benchmark_process["torch_threads"] == threads
    if "blas_threads" in benchmark_process:
        assert benchmark_process["blas_threads"] in ([], [threads])


def test_benchmarks_say_which_call_they_time(suite):
    """asv shows a benchmark's source: it lists the call each backend-mode times per operation."""
    from asv_runner.benchmarks._base import get_source_code

    ad, _, common = suite
    for method, operations in [(ad.Derivative.time_derivative, OPERATIONS),
                               (ad.FirstCall.track_first_call, common.TRACKED_OPERATIONS)]:
        shown = get_source_code([method])
        assert "jax-reverse jacobian: jax.jit(jax.grad(f)) for a scalar f, jax.jit(jax.jacrev(f)) otherwise" in shown
        assert "autograd-reverse jacobian: autograd.grad(f) for a scalar f" in shown
        assert shown.rstrip().endswith(("self.call()", "return first_call(self.prepared.call, self.prepared.sync)"))
        for variant, (backend, mode) in common.variant_labels().items():
            for operation in operations:
                if mode in get_backend(backend).modes_for(operation):
                    assert f"{variant} {operation}: " in shown
