"""``python -m adbench`` end to end: list, compare on tiny grids, the results schema, failures kept apart."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import availability

from adbench.backends import backend_names
from adbench.engine.results import COLUMNS, FORMAT_VERSION, read_results
from adbench.problems import list_problems

ROOT = Path(__file__).resolve().parents[1]
# No adaptive visits: these runs check what is recorded, not how long a run keeps measuring open comparisons.
FAST = ["--budget", "0.002", "--timeout", "60", "--rounds", "1", "--no-adaptive"]


def adbench(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 240):
    # The terminal's width shapes what compare prints: 100 columns (its default where unknown) unless a test says.
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "adbench", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout
    )


def flat(text: str) -> str:
    """``text`` with its lines joined and runs of spaces made one: compare wraps its stderr to the terminal."""
    return " ".join(text.split())


def test_list_shows_problems_and_backends():
    out = adbench("list", env={"COLUMNS": "100"})
    assert out.returncode == 0, out.stderr
    # list imports every framework here; TensorFlow's C++ banners at import are silenced.
    for banner in ("oneDNN", "absl::InitializeLog", "cpu_feature_guard"):
        assert banner not in out.stderr
    for name in (
        "basic",
        "loss",
        "control_loop",
        "tall",
        "gmm",
        "lstm",
        "ode",
        "mlp",
        "D=2,K=5",
        "jax",
        "jax-eager",
        "torch",
        "torch-autograd",
        "torch-compile",
        "autograd",
        "tensorflow",
        "tensorflow-xla",
        "mlx",
        "mlx-compile",
        "manual",
        "finite-diff",
        "hvp: all 4 compositions",
        "hessian: reverse-over-reverse",
    ):
        assert name in " ".join(out.stdout.split()), name  # table cells wrap at the width
    for name in ("jax", "torch", "autograd", "tensorflow", "mlx"):
        info = availability(name)
        if info.available:
            assert info.version in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 100


def test_list_imports_no_framework():
    """`list` reads versions from package metadata and finds frameworks without importing them (8.5 s before)."""
    code = (
        "import sys; from adbench.cli import main; main(['list']); "
        "print('IMPORTED', sorted(m for m in ('jax', 'torch', 'tensorflow', 'mlx', 'autograd', 'pandas') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "IMPORTED []"


def test_compare_help_is_grouped_with_the_defaults_the_run_uses(capsys, monkeypatch):
    from adbench import cli, compare
    from adbench.backends import backend_names

    monkeypatch.setenv("COLUMNS", "1000")  # argparse would otherwise break torch-autograd at its hyphen
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps its help
    for group in (
        "what to run:",
        "how long and how hard to measure:",
        "what is shown, where results go, what fails the run:",
        "scale-out:",
    ):
        assert group in text
    plain = [p.name for p in compare.plain_problems()]
    assert f"the plain run's {len(plain)} of" in text and ", ".join(plain) in text
    assert ", ".join(backend_names(default_only=True)) in text
    assert f"(default {','.join(cli.DEFAULT_FAIL_ON)})" in text


def test_compare_tiny_grid_every_backend(tmp_path):
    csv = tmp_path / "run.csv"
    out = adbench(
        "compare",
        "--problems",
        "loss,tall",
        "--sizes",
        "3",
        "--budget",
        "0.004",
        "--rounds",
        "3",
        "--operations",
        "jacobian,hvp",
        "--modes",
        "forward,reverse,forward-over-reverse",
        "--details",
        "--output",
        str(csv),
        env={"COLUMNS": "100"},
    )
    assert out.returncode == 0, out.stderr
    frame, meta = read_results(csv)
    assert list(frame.columns) == COLUMNS
    assert set(frame["problem"]) == {"loss", "tall"}
    assert set(frame.loc[frame["problem"] == "tall", "operation"]) == {"jacobian"}, "tall has no Hessian"
    expected = {("manual", "manual"), ("finite-diff", "central")}
    plain = set(backend_names(default_only=True))  # tensorflow and mlx are asked for by name
    for backend in ("jax", "torch", "autograd", "tensorflow", "mlx"):
        if backend in plain and availability(backend).available:
            expected |= {(backend, "forward"), (backend, "reverse"), (backend, "forward-over-reverse")}
    if availability("torch-autograd").available:
        expected.add(("torch-autograd", "reverse"))
    assert set(zip(frame["backend"], frame["mode"])) >= expected
    assert "jax-eager" not in set(frame["backend"]), "jax-eager is asked for by name"
    ok = frame[frame["status"] == "ok"]
    assert len(ok) == len(frame), frame[frame["status"] != "ok"][["backend", "mode", "error"]]
    assert (ok["median_s"] > 0).all() and (ok["min_s"] <= ok["median_s"]).all()
    assert (ok["first_call_s"] > 0).all() and (ok["f_median_s"] > 0).all()
    assert (ok["visits"] >= 3).all() and (ok["workers"] == 1).all()
    assert (ok["ci_low_s"] <= ok["time_s"]).all() and (ok["time_s"] <= ok["ci_high_s"]).all()
    assert (ok["log_se"] > 0).all() and (ok["log_df"] > 0).all()
    assert (ok["rel_error"] <= ok["tolerance"]).all() and set(ok["reference"]) == {"exact"}
    assert (ok["peak_memory_bytes"] >= 0).all()
    jac = ok[ok["operation"] == "jacobian"]
    assert (jac["n_outputs"] == jac["size"].map({3: 1}).where(jac["problem"] == "loss", 300)).all()
    # The sidecar: format, run id, checksum, environment, raw samples per round.
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["run_id"] and set(frame["run_id"]) == {meta["run_id"]}
    env = meta["environment"]
    for key in (
        "frameworks",
        "cpu_model",
        "cpu_count",
        "threads",
        "python",
        "platform",
        "git_commit",
        "timestamp",
        "adbench_version",
        "device",
    ):
        assert key in env
    assert env["threads"] == 1 and env["device"] == "cpu"
    assert env["git_dirty"] in (True, False, None)
    assert len(meta["cases"]) == len(frame)
    assert all(
        sum(len(v["samples"]) for v in c["visits"]) == s and len(c["visits"]) == v
        for c, s, v in zip(meta["cases"], frame["samples"], frame["visits"])
    )
    assert "busy" in meta["noise"]
    # Every two timed cases of a group are compared paired, and the run's variance is recorded.
    assert meta["comparisons"] and all(len(row) == 6 for row in meta["comparisons"])
    assert meta["variance"]["components"]["visits"] == int(frame["visits"].sum())
    assert meta["budget"]["time_budget_s"] > 0 and meta["budget"]["visits"] == int(frame["visits"].sum())
    # What a person reads: the answers first (one row per problem and operation), then --details' tables and
    # verdict sentences; every line within the terminal's 100 columns, stderr's too.
    answers, details = out.stdout.split("== loss · jacobian ==")
    assert re.search(r"loss · jacobian +3 → 1 +((reverse|forward) [\d,.]+×|tie|unresolved) ", answers), answers
    assert re.search(r"tall · jacobian +3 → 300 ", answers) and "== loss · hvp ==" in details
    summary = " ".join(details.split("== Verdicts ==")[1].split())  # its sentences are wrapped
    verdict = (
        r"((reverse|forward) [\d,.]+× faster \[[\d,.]+×, [\d,.]+×\]|tie \(within 5%\)|not resolved at this noise level)"
    )
    assert re.search(r"loss jacobian \(n=3 → m=1\): " + verdict, summary)
    assert re.search(r"tall jacobian \(n=3 → m=300\): " + verdict, summary)
    for stream, text in (("stdout", out.stdout), ("stderr", out.stderr)):
        wide = [line for line in text.splitlines() if len(line) > 100]
        assert not wide, f"{stream} lines wider than COLUMNS=100: {wide[:3]}"


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown"])
def test_compare_formats(tmp_path, fmt):
    out = adbench(
        "compare",
        "--problems",
        "basic",
        "--backends",
        "manual,finite-diff",
        *FAST,
        "--format",
        fmt,
        "--output",
        str(tmp_path / "r.csv"),
    )
    assert out.returncode == 0, out.stderr
    if fmt == "json":
        assert {r["backend"] for r in json.loads(out.stdout)} == {"manual", "finite-diff"}
    elif fmt == "csv":
        assert out.stdout.splitlines()[0] == ",".join(COLUMNS)
    else:
        assert "### basic · jacobian" in out.stdout and "| backend" in out.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--backends", "theano"], "unknown backend 'theano'; valid choices:"),
        (
            ["--problems", "los"],
            "unknown problem 'los'; valid choices: " + ", ".join(sorted(p.name for p in list_problems())),
        ),
        (["--modes", "sideways"], "unknown mode 'sideways'; valid choices: forward, forward-over-forward"),
        (["--dtype", "float16"], "valid choices: float32, float64"),
        (["--format", "xml"], "unknown format 'xml'; valid choices: csv, json, markdown, table"),
        (["--threads", "0"], "--threads must be an integer from 1 to"),
        (["--sizes", "10,x"], "--sizes takes comma-separated positive integers"),
        (["--problem", "no_such_module_xyz:f"], "No module named 'no_such_module_xyz'"),
        (["--problem", "justaname"], "--problem takes MODULE:FUNCTION"),
        (["--problem", "loss"], "'loss' is a registered problem: use --problems loss"),
        (
            ["--operations", "gradient"],
            "unknown operation 'gradient'; valid choices: hessian, hvp, jacobian, jvp, nested, sparse-jacobian, vjp",
        ),
        (["--timeout", "inf"], "--timeout must be a finite number of seconds above 0"),
        (["--memory-limit", "inf"], "--memory-limit must be a finite number of GiB above 0"),
        (["--budget", "nan"], "--budget must be a finite number of seconds above 0"),
        (["--budget", "-1"], "--budget must be a finite number of seconds above 0"),
        (["--seed", "-1"], "--seed must be an integer from 0 to 4294967295"),
        (["--rounds", "0"], "--rounds must be an integer from 1 to 1000"),
        (["--time-budget", "0"], "--time-budget must be a finite number of seconds above 0"),
        (["--compile-timeout", "-3"], "--compile-timeout must be a finite number of seconds above 0"),
        (["--workers", "0"], "--workers must be an integer from 1 to 16"),
        (["--statistic", "mode"], "unknown statistic 'mode'; valid choices: median, min, q25"),
        (["--problems", ""], "--problems needs at least one name"),
        (["--backends", ","], "--backends needs at least one name"),
        (["--chunk-size", "0"], "--chunk-size takes comma-separated positive integers (or none: unchunked)"),
        (["--device", "tpu"], "unknown device 'tpu'; valid choices: cpu, cuda"),
        (["--quick", "--full"], "not allowed with argument"),
    ],
    ids=[
        "backend",
        "problem",
        "mode",
        "dtype",
        "format",
        "threads",
        "sizes",
        "module",
        "spec",
        "registered-name",
        "operation",
        "timeout-inf",
        "memory-inf",
        "budget-nan",
        "budget-negative",
        "seed",
        "rounds",
        "time-budget",
        "compile-timeout",
        "workers",
        "statistic",
        "empty-problems",
        "empty-backends",
        "chunk",
        "device",
        "quick-full",
    ],
)
def test_bad_arguments(args, message, tmp_path, capsys):
    # In this process (the CLI's own main; a subprocess each cost 0.4 s of imports, 26 times): every one of
    # these is refused before anything starts.
    from adbench import cli

    handler = signal.getsignal(signal.SIGTERM)
    try:
        code = cli.main(["compare", *args, "--output", str(tmp_path / "r.csv")])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize(
    "text,expected",
    [
        ("wrong", {"wrong"}),
        ("wrong,error,timeout", {"wrong", "error", "timeout"}),
        (" error , known ", {"error", "known"}),
        ("none", set()),
        ("compile-timeout,memory", {"compile-timeout", "memory"}),
    ],
    ids=["wrong", "three", "spaces-and-known", "none", "hyphenated"],
)
def test_fail_on_parses(text, expected):
    from adbench.cli_options import fail_on

    assert fail_on(text) == expected


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "wrnog",
            "--fail-on takes comma-separated names from wrong, error, timeout, compile-timeout, memory, known, "
            "none, not 'wrnog'",
        ),
        ("", "--fail-on takes comma-separated names from"),
        ("none,wrong", "--fail-on none stands alone"),
    ],
    ids=["typo", "empty", "none-with-others"],
)
def test_fail_on_refuses_bad_values(text, message, tmp_path, capsys):
    from adbench import cli

    handler = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exc:
            cli.main(["compare", "--fail-on", text, "--output", str(tmp_path / "r.csv")])
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


USER_MODULE = textwrap.dedent("""
    import inspect, os, time

    def square_sum(x, xp):
        return xp.sum(xp.sin(x) ** 2)

    def fails_on_torch(x, xp):
        if "torch" in xp.__name__:  # array_api_compat.torch
            raise RuntimeError("this function does not support torch")
        return xp.sum(x ** 3)

    def crashes_autograd(x, xp):
        if "autograd" in xp.__name__:  # adbench's autograd namespace
            os._exit(3)  # a segfault's stand-in: the worker dies without a word
        return xp.sum(x ** 3)

    _broken = []

    def breaks_torch(x, xp):
        if "torch" in xp.__name__:  # like a sticky CUDA error: the process stays broken
            _broken.append(True)
            raise RuntimeError("this call leaves torch broken")
        return xp.sum(x ** 3)

    def fails_after_breakage(x, xp):
        if _broken:
            raise RuntimeError("an earlier case broke this process")
        return xp.sum(x ** 3)

    _calls = []

    def slow_after_its_first_calls(x, xp):
        # Quick through its build (first calls, calibration, the check), then slow in every visit.
        _calls.append(1)
        if xp.__name__ == "numpy" and len(_calls) > 300:
            time.sleep(30)
        return xp.sum(x ** 3)

    def slow_on_manual_fd(x, xp):
        # adbench tries f once with NumPy before any framework starts (compare.trial_error) and probes its
        # output shape once with NumPy on 0.5 ... 1.5; only the timed calls (on other inputs) are slow.
        trial = any(frame.function == "trial_error" for frame in inspect.stack(0))
        if xp.__name__ == "numpy" and float(x[0]) != 0.5 and not trial:
            time.sleep(30)
        return xp.sum(x ** 3)
""")


@pytest.fixture
def user_module(tmp_path):
    (tmp_path / "userfuncs.py").write_text(USER_MODULE)
    return tmp_path


def test_user_function_path(user_module):
    out = adbench(
        "compare",
        "--problem",
        "userfuncs:square_sum",
        "--sizes",
        "4,8",
        *FAST,
        "--backends",
        "jax,autograd,finite-diff,manual",
        "--output",
        "r.csv",
        # Wide, so that each row reads whole (a long name may wrap at 100 columns: the fit is
        # test_every_line_fits_the_terminal's to check, the content this test's).
        env={"PYTHONPATH": f"{ROOT}{os.pathsep}{user_module}", "COLUMNS": "200"},
        cwd=user_module,
    )
    assert out.returncode == 0, out.stderr
    frame, _ = read_results(user_module / "r.csv")
    assert set(frame["problem"]) == {"userfuncs:square_sum"}
    assert set(frame["size"]) == {4, 8}
    assert set(frame["status"]) <= {"ok", "skipped"}
    # Every size asked for gets its answers, not only the largest.
    for n in (4, 8):
        assert re.search(
            rf"userfuncs:square_sum · jacobian +{n} → 1 +((reverse|forward) [\d,.]+×|tie|unresolved)", out.stdout
        ), out.stdout
    # The baselines with no hand-written derivative of a user's function: one line, not one per case.
    skipped = frame[frame["status"] == "skipped"]
    assert len(skipped) >= 2 and "× hand" not in out.stdout.splitlines()[0]  # no such column in the header
    assert "skipped by design: " in out.stderr and "  skipped: " not in out.stderr, out.stderr


REFUSED = textwrap.dedent("""
    def raises(x, xp):
        raise ZeroDivisionError("my model divides by zero")

    def nan(x, xp):
        return xp.sum(x) * float("nan")
""")


@pytest.mark.parametrize(
    "function,error",
    [("raises", "ZeroDivisionError: my model divides by zero"), ("nan", "it returned NaN or infinity")],
    ids=["raises", "returns-nan"],
)
def test_a_user_function_that_fails_with_numpy_is_refused_before_any_framework(tmp_path, function, error):
    (tmp_path / "mine.py").write_text(REFUSED)
    started = time.monotonic()
    out = adbench(
        "compare", "--problem", f"mine.py:{function}", "--sizes", "10,1000", "--output", "r.csv", cwd=tmp_path
    )
    assert time.monotonic() - started < 10
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == (
        f"adbench compare: error: your function mine.py:{function} failed its NumPy trial at "
        f"n=10: {error}. No framework was started; fix f (or choose --sizes) and run again"
    )
    assert not (tmp_path / "r.csv").exists()


WRONG_ON_AUTOGRAD = textwrap.dedent("""
    def f(x, xp):
        # Right in NumPy (the reference differences it), doubled where autograd computes it: a wrong row.
        return xp.sum(x ** 3) * (2.0 if "autograd" in xp.__name__ else 1.0)
""")


@pytest.fixture(scope="module")
def wrong_on_autograd(tmp_path_factory):
    """One run whose autograd rows are wrong (and finite-diff's ok), saved: the exit status is judged from it."""
    if not availability("autograd").available:
        pytest.skip("autograd is not installed")
    tmp = tmp_path_factory.mktemp("wrong")
    (tmp / "wrongf.py").write_text(WRONG_ON_AUTOGRAD)
    out = adbench(
        "compare",
        "--problem",
        "wrongf.py:f",
        "--sizes",
        "3",
        "--backends",
        "autograd,finite-diff",
        "--operations",
        "jacobian",
        *FAST,
        "--output",
        "r.csv",
        cwd=tmp,
        env={"COLUMNS": "100"},
    )
    frame, _ = read_results(tmp / "r.csv")
    assert set(frame.loc[frame["backend"] == "autograd", "status"]) == {"wrong"}, frame[["backend", "status"]]
    return out, frame


def _autograd_defect(versions: str):
    from adbench.findings import KnownDefect

    return KnownDefect(
        framework="autograd",
        versions=versions,
        matches={"backend": ("autograd",), "status": ("wrong",)},
        upstream="example/autograd#1",
        summary="a defect injected by the test",
    )


def test_a_wrong_result_no_known_defect_explains_fails_the_run(wrong_on_autograd):
    out, _ = wrong_on_autograd
    assert out.returncode == 1, out.stderr
    assert "no known defect explains it" in out.stdout and "Findings" not in out.stdout
    assert "that no known framework defect explains (--fail-on" in flat(out.stderr)


@pytest.mark.parametrize(
    "fail_on,versions,code",
    [
        ({"wrong", "error"}, ">=0", 0),  # explained: a finding, not a failure
        ({"wrong", "known"}, ">=0", 1),  # the user asked to fail on known defects too
        ({"wrong"}, "<0.0.1", 1),  # a release outside the defect's versions: no longer explained
        (set(), "<0.0.1", 0),  # --fail-on none
        ({"error", "timeout"}, "<0.0.1", 0),  # wrong is not among the statuses that fail
    ],
    ids=["explained", "fail-on-known", "fixed-release", "fail-on-none", "wrong-not-listed"],
)
def test_exit_status_with_and_without_a_known_defect(wrong_on_autograd, monkeypatch, fail_on, versions, code):
    from adbench import cli, findings

    _, frame = wrong_on_autograd
    monkeypatch.setattr(findings, "KNOWN_DEFECTS", (_autograd_defect(versions),))
    explained = findings.known_defects(frame)
    assert bool(explained) == (versions == ">=0")
    assert (1 if len(cli.failing_cases(frame, frozenset(fail_on), explained)) else 0) == code


@pytest.mark.parametrize("width", [100, 80], ids=["columns-100", "columns-80"])
@pytest.mark.parametrize("details", [False, True], ids=["answers", "details"])
def test_every_line_fits_the_terminal(wrong_on_autograd, monkeypatch, width, details):
    """The answers (and --details' tables and sentences) of a run with findings, notes and a wrong row, at the width
    COLUMNS gives: no line wider."""
    from adbench import findings
    from adbench.rendering import render

    _, frame = wrong_on_autograd
    monkeypatch.setattr(findings, "KNOWN_DEFECTS", (_autograd_defect(">=0"),))
    monkeypatch.setenv("COLUMNS", str(width))
    text = render(
        frame,
        "table",
        {"busy": True, "busy_reasons": ["a load average of 12 on 2 CPUs"]},
        None,
        {"time_budget_s": 50, "spent_s": 61.5, "phases_s": {"first builds": 40.2, "visits": 20.1}},
        details=details,
        explained=findings.known_defects(frame),
    )
    wide = [line for line in text.splitlines() if len(line) > width]
    assert not wide, wide
    assert "! Findings" in text and ("== wrongf.py:f · jacobian ==" in text) == details


def test_a_known_defect_is_shown_as_a_finding_and_the_run_exits_0(wrong_on_autograd, monkeypatch, capsys, tmp_path):
    """The whole command in this process, the defect injected: its rows named under Findings, exit 0."""
    from adbench import cli, findings

    monkeypatch.setattr(findings, "KNOWN_DEFECTS", (_autograd_defect(">=0"),))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wrongf.py").write_text(WRONG_ON_AUTOGRAD)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        code = cli.main(
            [
                "compare",
                "--problem",
                "wrongf.py:f",
                "--sizes",
                "3",
                "--backends",
                "autograd,finite-diff",
                "--operations",
                "jacobian",
                *FAST,
                "--output",
                "r.csv",
            ]
        )
    finally:
        signal.signal(signal.SIGTERM, handler)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "! Findings" in out and "autograd" in out and "example/autograd#1" in out
    assert "[known: autograd" in err and "by known framework defects" in err


def test_failures_do_not_stop_the_run(user_module):
    """An exception, a dead worker and a timeout are recorded; every other case still runs."""
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{user_module}"}
    args = [
        "compare",
        "--sizes",
        "3",
        "--budget",
        "0.002",
        "--output",
        "r.csv",
        "--operations",
        "jacobian",
        "--problem",
        "userfuncs:fails_on_torch",
        "--problem",
        "userfuncs:crashes_autograd",
        "--problem",
        "userfuncs:square_sum",
    ]
    out = adbench(*args, "--backends", "torch,autograd,finite-diff", env=env, cwd=user_module)
    assert out.returncode == 1, out.stderr
    frame, _ = read_results(user_module / "r.csv")
    status = {(r.problem.split(":")[1], r.backend, r.mode): (r.status, str(r.error)) for r in frame.itertuples()}
    if availability("torch").available:
        assert status[("fails_on_torch", "torch", "forward")][0] == "error"
        assert "does not support torch" in status[("fails_on_torch", "torch", "reverse")][1]
    if availability("autograd").available:
        assert status[("crashes_autograd", "autograd", "forward")][0] == "error"
        assert "worker process died (exit code 3)" in status[("crashes_autograd", "autograd", "forward")][1]
        # The cases after the crash ran in a fresh worker.
        assert status[("crashes_autograd", "autograd", "reverse")][0] == "error"
        assert status[("square_sum", "autograd", "forward")][0] == "ok"
        assert status[("square_sum", "autograd", "reverse")][0] == "ok"
    assert status[("fails_on_torch", "finite-diff", "central")][0] == "ok"
    assert status[("crashes_autograd", "finite-diff", "central")][0] == "ok"


@pytest.mark.skipif(not availability("torch").available, reason="torch is not installed")
def test_a_case_that_raised_does_not_break_the_next(user_module):
    """After a case raised, the next runs in a fresh worker (a CUDA error poisons its process)."""
    out = adbench(
        "compare",
        "--problem",
        "userfuncs:breaks_torch",
        "--problem",
        "userfuncs:fails_after_breakage",
        "--sizes",
        "3",
        "--operations",
        "jacobian",
        "--backends",
        "torch",
        *FAST,
        "--output",
        "r.csv",
        env={"PYTHONPATH": f"{ROOT}{os.pathsep}{user_module}"},
        cwd=user_module,
    )
    assert out.returncode == 1, out.stderr
    frame, _ = read_results(user_module / "r.csv")
    status = {(r.problem.split(":")[1], r.mode): r.status for r in frame.itertuples()}
    assert status == {
        ("breaks_torch", "forward"): "error",
        ("breaks_torch", "reverse"): "error",
        ("fails_after_breakage", "forward"): "ok",
        ("fails_after_breakage", "reverse"): "ok",
    }


def test_timeout_is_recorded(user_module):
    """A visit past --timeout is a timeout; the run goes on."""
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{user_module}"}
    started = time.monotonic()
    out = adbench(
        "compare",
        "--problem",
        "userfuncs:slow_after_its_first_calls",
        "--problem",
        "userfuncs:square_sum",
        "--sizes",
        "2",
        "--backends",
        "finite-diff",
        "--budget",
        "0.002",
        "--timeout",
        "2",
        "--operations",
        "jacobian",
        "--output",
        "r.csv",
        env=env,
        cwd=user_module,
    )
    assert time.monotonic() - started < 25
    assert out.returncode == 1
    frame, _ = read_results(user_module / "r.csv")
    rows = frame.set_index("problem")
    assert rows.loc["userfuncs:slow_after_its_first_calls", "status"] == "timeout"
    assert "case time limit of 2 s" in rows.loc["userfuncs:slow_after_its_first_calls", "error"]
    assert rows.loc["userfuncs:square_sum", "status"] == "ok"


def test_a_first_call_past_the_compile_limit_is_a_compile_timeout(user_module):
    """A first call (trace, compile, run) has its own limit: past it the case is a compile-timeout,
    and the table and the CLI say so."""
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{user_module}"}
    started = time.monotonic()
    out = adbench(
        "compare",
        "--problem",
        "userfuncs:slow_on_manual_fd",
        "--problem",
        "userfuncs:square_sum",
        "--sizes",
        "2",
        "--backends",
        "finite-diff",
        "--budget",
        "0.002",
        "--compile-timeout",
        "2",
        "--operations",
        "jacobian",
        "--output",
        "r.csv",
        env=env,
        cwd=user_module,
    )
    assert time.monotonic() - started < 25
    assert out.returncode == 1
    frame, _ = read_results(user_module / "r.csv")
    rows = frame.set_index("problem")
    assert rows.loc["userfuncs:slow_on_manual_fd", "status"] == "compile-timeout"
    assert "compile limit of 2 s (--compile-timeout)" in rows.loc["userfuncs:slow_on_manual_fd", "error"]
    assert rows.loc["userfuncs:square_sum", "status"] == "ok"
    assert "compile-timeout" in out.stdout and "compile-timeout: userfuncs:slow_on_manual_fd" in flat(out.stderr)


def test_memory_guard_skips_with_estimate(tmp_path):
    out = adbench(
        "compare",
        "--problems",
        "loss",
        "--sizes",
        "100000",
        "--backends",
        "jax",
        "--operations",
        "jacobian",
        "--modes",
        "forward",
        "--memory-limit",
        "1",
        *FAST,
        "--output",
        str(tmp_path / "r.csv"),
    )
    assert out.returncode == 0, out.stderr
    frame, _ = read_results(tmp_path / "r.csv")
    (row,) = frame.itertuples()
    assert row.status == "skipped"
    assert "estimated peak memory" in row.error and "exceeds the limit 1.0 GiB (--memory-limit)" in row.error
    assert row.memory_estimate_bytes > 100 * 2**30  # n x n float32 tangents alone are 40 GB


def test_missing_framework_skips_its_cases(tmp_path):
    # A sitecustomize that hides torch from every process started with it, the workers included.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n")
    out = adbench(
        "compare",
        "--problems",
        "basic",
        "--backends",
        "torch,manual",
        *FAST,
        "--operations",
        "jacobian",
        "--output",
        str(tmp_path / "r.csv"),
        env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
    )
    assert out.returncode == 0, out.stderr
    frame, _ = read_results(tmp_path / "r.csv")
    torch_rows = frame[frame["backend"] == "torch"]
    assert set(torch_rows["status"]) == {"skipped"}
    assert torch_rows["error"].str.contains("backend unavailable").all()
    assert frame.loc[frame["backend"] == "manual", "status"].tolist() == ["ok"]


def test_interrupt_keeps_finished_cases(user_module):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{user_module}"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adbench",
            "compare",
            "--problem",
            "userfuncs:square_sum",
            "--problem",
            "userfuncs:slow_on_manual_fd",
            "--sizes",
            "2",
            "--backends",
            "finite-diff",
            "--operations",
            "jacobian",
            "--budget",
            "0.002",
            "--output",
            "r.csv",
        ],
        cwd=user_module,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    csv = user_module / "r.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (csv.exists() and len(pd.read_csv(csv)) >= 1):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    frame, _ = read_results(csv)
    assert frame["problem"].tolist() == ["userfuncs:square_sum"]
    assert frame["status"].tolist() == ["ok"]


def test_user_module_found_from_console_script(user_module):
    """The installed `adbench` script runs with its bin folder, not the working folder, on sys.path."""
    code = (
        "import os, sys; sys.path[:] = [p for p in sys.path if p not in ('', os.getcwd())]; "
        "from adbench.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "compare",
            "--problem",
            "userfuncs:square_sum",
            "--sizes",
            "3",
            "--backends",
            "finite-diff",
            "--operations",
            "jacobian",
            *FAST,
            "--output",
            "r.csv",
        ],
        capture_output=True,
        text=True,
        cwd=user_module,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert read_results(user_module / "r.csv")[0]["status"].tolist() == ["ok"]


LSQ = textwrap.dedent('''
    """A least-squares loss on the user's own data: the README's example."""
    import numpy as np

    def constants(n, seed):
        rng = np.random.default_rng(seed)
        return {"A": rng.standard_normal((2 * n, n)), "b": rng.standard_normal(2 * n)}

    def f(x, xp, A, b):
        r = A @ x - b
        return xp.sum(r * r)

    def uses_polyval(x, xp):
        return xp.sum(xp.polyval(x[:3], x))  # NumPy's and jax.numpy's, not in the standard, not torch's
''')


def test_user_function_with_data_on_every_backend(tmp_path):
    """The README's lsq.py: module-level constants(n, seed) reach every backend as its own arrays."""
    (tmp_path / "lsq.py").write_text(LSQ)
    out = adbench(
        "compare",
        "--problem",
        "lsq.py:f",
        "--sizes",
        "6",
        "--operations",
        "jacobian,hvp",
        "--budget",
        "0.004",
        "--rounds",
        "1",
        "--output",
        "r.csv",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    frame, _ = read_results(tmp_path / "r.csv")
    ran = frame[frame["status"] == "ok"]
    for backend in ("jax", "torch", "torch-autograd", "autograd", "finite-diff"):
        if availability(backend).available:
            assert (ran["backend"] == backend).any(), frame[frame["backend"] == backend][["mode", "status", "error"]]
    jac = ran[ran["operation"] == "jacobian"]
    assert (jac["rel_error"] <= jac["tolerance"]).all() and set(jac["reference"]) == {"approximate"}
    assert (ran.loc[ran["operation"] == "hvp", "rel_error"] <= 1e-3).all()


def test_a_name_a_namespace_lacks_is_named(tmp_path):
    (tmp_path / "lsq.py").write_text(LSQ)
    require_torch = availability("torch")
    if not require_torch.available:
        pytest.skip(f"torch unavailable: {require_torch.reason}")
    out = adbench(
        "compare",
        "--problem",
        "lsq.py:uses_polyval",
        "--sizes",
        "4",
        "--backends",
        "jax,torch",
        "--operations",
        "jacobian",
        "--modes",
        "reverse",
        *FAST,
        "--output",
        "r.csv",
        cwd=tmp_path,
    )
    assert out.returncode == 1
    frame, _ = read_results(tmp_path / "r.csv")
    rows = frame.set_index("backend")
    assert rows.loc["torch", "status"] == "error"
    assert rows.loc["torch", "error"] == (
        "lsq.py:uses_polyval uses xp.polyval, which backend 'torch' lacks "
        "(its array namespace is array_api_compat.torch)"
    )
    if availability("jax").available:
        assert rows.loc["jax", "status"] == "ok"
    assert "uses xp.polyval, which backend 'torch' lacks" in flat(out.stderr)


@pytest.mark.parametrize("quick", [False, True], ids=["plain", "quick"])
def test_the_options_defaults_are_the_declared_settings(quick):
    """compare's options, none given, make the run settings declared in adbench.engine.settings (--quick its own
    budget and visits): no default is written twice."""
    from adbench import cli
    from adbench.cli_compare import run_settings
    from adbench.engine import settings as declared

    got = run_settings(cli.build_parser().parse_args(["compare"] + (["--quick"] if quick else [])))
    assert got.time_budget_s == (declared.QUICK_TIME_BUDGET_S if quick else declared.DEFAULT_TIME_BUDGET_S)
    assert got.min_visits == (declared.QUICK_MIN_VISITS if quick else declared.DEFAULT_MIN_VISITS)
    plain = declared.RunSettings()
    for name in (
        "timeout_s",
        "compile_timeout_s",
        "visit_s",
        "workers",
        "threads",
        "slow_case_s",
        "unstated_min_visits",
        "statistic",
    ):
        assert getattr(got, name) == getattr(plain, name), name
    assert not got.detail_questions, "a plain compare prints the first screen alone"
    exact = run_settings(cli.build_parser().parse_args(["compare", "--rounds", "3"]))
    assert (exact.min_visits, exact.slow_case_s, exact.unstated_min_visits) == (3, None, None), "--rounds: every case"
