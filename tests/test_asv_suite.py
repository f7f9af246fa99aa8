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
from adbench.threads import THREAD_VARIABLES, worker_environment

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("jax", "torch", "autograd")


def run_python(code: str, threads: str | None = None, timeout: float = 120) -> dict:
    """Run ``code`` from the repository root (where asv finds ``benchmarks``); it prints one JSON line."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES and k != "XLA_FLAGS"}
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
    caches = (common.warm_jacobian, common.timed_jacobian, common.timed_function, common._availability)
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
    expected = worker_environment(int(threads or 1), base={})
    for var, value in expected.items():
        if var == "XLA_FLAGS":
            assert value in got["env"][var]
        else:
            assert got["env"][var] == value, var
    if threads == "2":
        assert "xla_cpu_multi_thread_eigen" not in got["env"].get("XLA_FLAGS", "")


def test_params_come_from_registry(suite):
    ad, environment, common = suite
    cases = [f"{p.name}-{n}" for p in list_problems() for n in p.sizes]
    pairs = {(b, m) for b in backend_names() for m in get_backend(b).modes}
    for cls, method in ((ad.Jacobian, "time_jacobian"), (ad.Function, "time_function"),
                        (ad.FirstCall, "track_first_call"), (ad.Memory, "peakmem_jacobian")):
        problems, variants = cls.params
        assert list(problems) == cases, cls
        assert {common.variant_labels()[v] for v in variants} == pairs, cls
        assert len(variants) == len(pairs)
        assert callable(getattr(cls, method))
    for p in list_problems():
        assert any(label.rpartition("-")[0] == p.name for label in ad.Jacobian.params[0])
    assert environment.Versions.params == sorted({get_backend(b).framework for b in backend_names()})
    assert ad.FirstCall.unit == "seconds"


def test_a_case_over_the_memory_guard_skips(common, suite, monkeypatch):
    ad, _, _ = suite
    monkeypatch.setattr(common, "MEMORY_LIMIT_BYTES", 1)
    case = common.case_labels()[0]
    for cls in (ad.Jacobian, ad.FirstCall, ad.Memory):
        with pytest.raises(NotImplementedError, match="exceeds the limit"):
            cls().setup(case, "manual")
    ad.Function().setup(case, "manual")  # f is not the Jacobian: the guard does not apply


def test_an_unsupported_combination_skips(common, suite, monkeypatch):
    ad, _, _ = suite
    user = problem_from_function(lambda x, xp: xp.sin(x), name="user_f")
    monkeypatch.setitem(_registry._REGISTRY, "user_f", user)
    for cls in (ad.Jacobian, ad.Function, ad.FirstCall, ad.Memory):
        with pytest.raises(NotImplementedError, match="no hand-written Jacobian"):
            cls().setup("user_f-10", "manual")


def test_an_unavailable_backend_skips(common, suite, monkeypatch):
    ad, environment, _ = suite
    monkeypatch.setattr(common, "_availability", lambda backend: "ModuleNotFoundError: No module named 'jax'")
    with pytest.raises(NotImplementedError, match="unavailable"):
        ad.Jacobian().setup(common.case_labels()[0], "jax-reverse")
    with pytest.raises(NotImplementedError, match="unavailable"):
        environment.Versions().setup("jax")


def test_an_unknown_label_fails_loudly(common, suite):
    ad, _, _ = suite
    with pytest.raises(KeyError):
        ad.Jacobian().setup(common.case_labels()[0], "no-such-backend")


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
from adbench.problems import list_problems
case = min(_common.case_labels(), key=lambda c: int(c.rpartition("-")[2]))
report = {"tasks_after_preload": tasks, "case": case, "results": {}}
for variant in ("manual", "autograd-reverse", "jax-reverse", "torch-reverse"):
    try:
        j, f, fc, m = ad.Jacobian(), ad.Function(), ad.FirstCall(), ad.Memory()
        j.setup(case, variant); j.time_jacobian(case, variant)
        f.setup(case, variant); f.time_function(case, variant)
        fc.setup(case, variant); first = fc.track_first_call(case, variant)
        m.setup(case, variant); m.peakmem_jacobian(case, variant)
        v = environment.Versions(); framework = get_backend(_common.spec_for(case, variant).backend).framework
        v.setup(framework); version = v.track_framework_version(framework)
        report["results"][variant] = {"number": j.number, "f_number": f.number, "first_call": first,
                                      "version": version}
    except NotImplementedError as exc:
        report["results"][variant] = {"skip": str(exc)}
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


@pytest.mark.parametrize("variant", ["manual", "autograd-reverse", "jax-reverse", "torch-reverse"])
def test_a_tiny_case_runs(benchmark_process, variant):
    result = benchmark_process["results"][variant]
    if "skip" in result:
        pytest.skip(f"{variant} on {benchmark_process['case']}: {result['skip']}")
    assert result["number"] >= 1 and result["f_number"] >= 1
    assert 0 < result["first_call"] < 60
    assert result["version"] > 0


def test_a_benchmark_process_runs_on_its_threads(benchmark_process):
    threads = benchmark_process["threads"]
    assert threads == 1
    assert len(benchmark_process["affinity"]) == min(threads, os.cpu_count())
    if "torch_threads" in benchmark_process:
        assert benchmark_process["torch_threads"] == threads
    if "blas_threads" in benchmark_process:
        assert benchmark_process["blas_threads"] in ([], [threads])
