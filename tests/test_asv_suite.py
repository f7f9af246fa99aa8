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

from adbench.backends import OPERATIONS, SECOND_ORDER, backend_names, get_backend
from adbench.compare import DEFAULT_OPERATIONS, build_grid
from adbench.engine.cases import CaseSpec
from adbench.engine.threads import THREAD_VARIABLES, worker_environment
from adbench.problems import _registry, get_problem, list_problems, problem_from_function

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("jax", "torch", "autograd", "tensorflow", "mlx")


def run_python(code: str, threads: str | None = None, timeout: float = 120, tier: str | None = None) -> dict:
    """Run ``code`` from the repository root (where asv finds ``benchmarks``); it prints one JSON line."""
    # A fresh user's environment: TF_CPP_MIN_LOG_LEVEL too, which TensorFlow, once imported by an earlier
    # test in this process, leaves in os.environ (a user's own value stays: tests/test_tensorflow_mlx.py).
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in THREAD_VARIABLES and k not in ("XLA_FLAGS", "TF_CPP_MIN_LOG_LEVEL")
    }
    env.pop("ADBENCH_THREADS", None)
    if threads is not None:
        env["ADBENCH_THREADS"] = threads
    for var in ("ADBENCH_ASV_TIER", "ADBENCH_ASV_PROBLEMS", "ADBENCH_ASV_BACKENDS"):
        env.pop(var, None)
    if tier is not None:
        env["ADBENCH_ASV_TIER"] = tier
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
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
    caches = (common.warm_case, common.timed_call, common.timed_function, common._availability, common._grid)
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


def test_default_tier_is_the_plain_compare_grid(suite):
    ad, environment, common = suite
    # The plain `compare` grid, less what a backend refuses from its metadata alone: nothing else.
    plain = [s for s in build_grid() if common.static_reason(s) is None]
    assert len(plain) > 0.9 * len(build_grid()), "the static filter drops only a few cells"
    assert ad.Derivative.param_names == ("case",)
    assert ad.Derivative.params == ([common.case_key(s) for s in plain],)
    assert [common.spec_for(key) for key in ad.Derivative.params[0]] == plain
    tracked = [common.case_key(s) for s in plain if s.operation in DEFAULT_OPERATIONS]
    for cls, method in ((ad.FirstCall, "track_first_call"), (ad.Memory, "track_peak_memory")):
        assert cls.params == (tracked,) and cls.param_names == ("case",)
        assert callable(getattr(cls, method))
    assert ad.Function.params == (list(dict.fromkeys(common.function_key(s) for s in plain)),)
    assert environment.Versions.params == sorted({get_backend(s.backend).framework for s in plain})
    assert ad.FirstCall.unit == "seconds" and ad.Memory.unit == "bytes"


def test_keys_name_their_case(suite):
    _, _, common = suite
    spec = common.spec_for("loss-10000 hvp jax-forward-over-reverse cpu")
    assert (spec.problem, spec.size, spec.operation, spec.backend, spec.mode, spec.device) == (
        "loss",
        10000,
        "hvp",
        "jax",
        "forward-over-reverse",
        "cpu",
    )
    assert common.spec_for("basic-2 jacobian manual cpu").mode == "manual"


def test_only_cases_that_exist_are_parameters(suite):
    """No combination the registry lacks: no Hessian of a vector function, no composition a backend lacks."""
    _, _, common = suite
    for key, spec in common.grid().items():
        problem = get_problem(spec.problem)
        assert spec.mode in get_backend(spec.backend).modes_for(spec.operation), key
        if spec.operation in SECOND_ORDER:
            assert problem.is_scalar(spec.size), key
        assert common.static_reason(spec) is None, key
    assert "tall-32 hvp jax-forward-over-reverse cpu" not in common.grid(), "tall is vector-valued"


def test_the_all_tier_is_the_whole_registry(suite, monkeypatch):
    _, _, common = suite
    monkeypatch.setenv("ADBENCH_ASV_TIER", "all")
    cases = common.grid().values()
    assert {s.problem for s in cases} == {p.name for p in list_problems()}
    assert {s.backend for s in cases} == set(backend_names())
    assert {s.operation for s in cases} == set(OPERATIONS)
    for p in list_problems():
        assert {s.size for s in cases if s.problem == p.name} == set(p.sizes), p.name
    for b in backend_names():  # every mode of every backend, compositions included
        assert {s.mode for s in cases if s.backend == b} == set(get_backend(b).modes), b
    monkeypatch.setenv("ADBENCH_ASV_TIER", "everything")
    with pytest.raises(ValueError, match="choose one of: default, all"):
        common.grid()


def test_problems_and_backends_narrow_or_widen_a_tier(suite, monkeypatch):
    _, _, common = suite
    assert not {"particle", "saddle"} & {s.problem for s in common.grid().values()}
    monkeypatch.setenv("ADBENCH_ASV_PROBLEMS", "all")
    assert {"particle", "saddle"} <= {s.problem for s in common.grid().values()}
    monkeypatch.setenv("ADBENCH_ASV_PROBLEMS", "particle")
    assert {key.split()[0] for key in common.case_keys()} == {"particle-1"}
    monkeypatch.delenv("ADBENCH_ASV_PROBLEMS")
    assert "torch-compile" not in common.suite_backends() and "jax-eager" not in common.suite_backends()
    monkeypatch.setenv("ADBENCH_ASV_BACKENDS", "all")
    assert "torch-compile" in common.suite_backends()
    monkeypatch.setenv("ADBENCH_ASV_BACKENDS", "jax,manual")
    assert common.suite_backends() == ["jax", "manual"]
    assert {s.backend for s in common.grid().values()} == {"jax", "manual"}


def test_a_case_over_the_memory_guard_skips(common, suite, monkeypatch):
    ad, _, _ = suite
    monkeypatch.setattr(common, "MEMORY_LIMIT_BYTES", 1)
    case = "basic-2 jacobian manual cpu"
    for cls in (ad.Derivative, ad.FirstCall, ad.Memory):
        with pytest.raises(NotImplementedError, match="exceeds the limit"):
            cls().setup(case)
    ad.Function().setup("basic-2 manual cpu")  # f is not the Jacobian: the guard does not apply


def test_a_spec_the_backend_refuses_skips(common):
    """The grid holds no such case; ``require`` still refuses one built by hand, before any import."""
    user = problem_from_function(lambda x, xp: xp.sin(x), name="user_f")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(_registry._REGISTRY, "user_f", user)
        with pytest.raises(NotImplementedError, match="no hand-written Jacobian"):
            common.require(CaseSpec("user_f", 10, "manual", "manual"))
        with pytest.raises(NotImplementedError, match="runs on cpu only, not cuda"):
            common.require(CaseSpec("loss", 1000, "autograd", "reverse", device="cuda"))


def test_an_unavailable_backend_skips(common, suite, monkeypatch):
    ad, environment, _ = suite
    monkeypatch.setattr(common, "_availability", lambda backend: "ModuleNotFoundError: No module named 'jax'")
    with pytest.raises(NotImplementedError, match="unavailable"):
        ad.Derivative().setup("basic-2 jacobian jax-reverse cpu")
    with pytest.raises(NotImplementedError, match="unavailable"):
        environment.Versions().setup("jax")


def test_an_unknown_key_fails_loudly(common, suite):
    ad, _, _ = suite
    with pytest.raises(KeyError, match="not a case of the 'default' asv tier"):
        ad.Derivative().setup("basic-2 jacobian no-such-backend cpu")
    with pytest.raises(KeyError, match="not a function case"):
        ad.Function().setup("basic-2 no-such-backend cpu")


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
# The all tier (set by the caller): every size, so the registry's smallest, and every operation.
case = min((s for s in _common.grid().values() if s.operation == "jacobian" and s.backend == "manual"
            and s.problem != "loss"), key=lambda s: s.size)
scalar = min(s.size for s in _common.grid().values() if s.problem == "loss")
case, scalar = f"{case.problem}-{case.size}", f"loss-{scalar}"
report = {"tasks_after_preload": tasks, "case": case, "results": {}}
for label, key in (
        ("manual", f"{case} jacobian manual cpu"), ("autograd-reverse", f"{case} jacobian autograd-reverse cpu"),
        ("jax-reverse", f"{case} jacobian jax-reverse cpu"), ("torch-reverse", f"{case} jacobian torch-reverse cpu"),
        ("jax-hvp", f"{scalar} hvp jax-forward-over-reverse cpu"), ("torch-vjp", f"{scalar} vjp torch-reverse cpu")):
    try:
        d, f, fc, m = ad.Derivative(), ad.Function(), ad.FirstCall(), ad.Memory()
        spec = _common.spec_for(key)
        backend = spec.backend
        d.setup(key); d.time_derivative(key)
        function = _common.function_key(spec)
        f.setup(function); f.time_function(function)
        fc.setup(key); first = fc.track_first_call(key)
        m.setup(key); peak = m.track_peak_memory(key)
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
    return run_python(PROCESS, timeout=300, tier="all")


def test_preloading_starts_no_thread(benchmark_process):
    # The forkserver forks after the preload; a thread alive then would not survive the fork.
    assert benchmark_process["tasks_after_preload"] == 1


@pytest.mark.parametrize(
    "variant", ["manual", "autograd-reverse", "jax-reverse", "torch-reverse", "jax-hvp", "torch-vjp"]
)
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
    for method, operations in [
        (ad.Derivative.time_derivative, OPERATIONS),
        (ad.FirstCall.track_first_call, common.TRACKED_OPERATIONS),
    ]:
        shown = get_source_code([method])
        assert "jax-reverse jacobian: jax.jit(jax.grad(f)) for a scalar f, jax.jit(jax.jacrev(f)) otherwise" in shown
        assert "autograd-reverse jacobian: autograd.grad(f) for a scalar f" in shown
        assert shown.rstrip().endswith(("self.call()", "return first_call(self.prepared.call, self.prepared.sync)"))
        # Every backend and mode of the registry, whatever the tier: the listing is part of the
        # benchmark's asv version, so the tiers' results share a history.
        for backend in backend_names():
            for mode in get_backend(backend).modes:
                for operation in operations:
                    if mode in get_backend(backend).modes_for(operation):
                        assert f"{common.variant_label(backend, mode)} {operation}: " in shown


def test_a_release_config_lists_both_releases_with_absolute_paths(tmp_path, monkeypatch):
    """tools/asv_releases.py: asv.conf.json with the two releases in the matrix, its paths made absolute
    (asv resolves a config's paths from the config's folder), everything else as it is."""
    from asv.util import load_json

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import asv_releases
    finally:
        sys.path.remove(str(ROOT / "tools"))
    monkeypatch.setattr(asv_releases, "ROOT", tmp_path)
    (tmp_path / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    written = load_json(str(asv_releases.derived_config("jax", ["0.9.2", "0.10.2"])), js_comments=True)
    original = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    assert written["matrix"]["req"]["jax"] == ["0.9.2", "0.10.2"]
    for key in asv_releases.PATH_KEYS:
        assert Path(written[key]).is_absolute() and Path(written[key]) == (tmp_path / original[key]).resolve()
    assert {k: v for k, v in written["matrix"]["req"].items() if k != "jax"} == {
        k: v for k, v in original["matrix"]["req"].items() if k != "jax"
    }
    # One entry per package in asv.conf.json itself: asv 0.6.6's --python=same runs once per entry.
    assert all(len(versions) == 1 for versions in original["matrix"]["req"].values())


def test_every_tier_and_switch_is_documented(suite):
    _, _, common = suite
    doc = (ROOT / "docs" / "asv.md").read_text(encoding="utf-8")
    for tier in common.TIERS:
        assert f"| `{tier}`" in doc, tier
    for variable in ("ADBENCH_ASV_TIER", "ADBENCH_ASV_PROBLEMS", "ADBENCH_ASV_BACKENDS", "ASV_PYTHONPATH"):
        assert variable in doc, variable
