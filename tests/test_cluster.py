"""``compare --cluster`` and ``--shard``: the grid cut into whole case groups, a LocalCluster run end to end
(a worker killed mid-group included), and the errors before anything runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from adbench import cluster, compare
from adbench.engine.results import FORMAT_VERSION, read_results

ROOT = Path(__file__).resolve().parents[1]
GRID = dict(problems=["basic", "loss", "tall"], backends=["autograd", "manual"], sizes=[2], dtype="float64")


def _grid():
    return compare.build_grid(GRID["problems"], GRID["backends"], None, GRID["sizes"], GRID["dtype"])


def adbench(*args: str, env: dict | None = None, timeout: float = 240):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "adbench", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


# -- the grid, cut -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_shards_hold_every_group_once_and_whole(n):
    specs = _grid()
    groups = cluster.case_groups(specs)
    slices = [cluster.shard(specs, k, n) for k in range(1, n + 1)]
    assert sorted(map(repr, (s for part in slices for s in part))) == sorted(map(repr, specs))
    for part in slices:  # a group is never split between two slices
        for group in cluster.case_groups(part):
            assert group in groups
    assert slices == [cluster.shard(_grid(), k, n) for k in range(1, n + 1)], "not deterministic"


@pytest.mark.parametrize("text, expected", [("1/1", (1, 1)), ("2/3", (2, 3)), ("3/3", (3, 3))])
def test_parse_shard(text, expected):
    assert cluster.parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2", ""])
def test_parse_shard_refuses(text):
    with pytest.raises(ValueError, match="K/N"):
        cluster.parse_shard(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("local:2", ("local", 2)),
        ("tcp://10.0.0.5:8786", ("remote", "tcp://10.0.0.5:8786")),
        ("head-node:8786", ("remote", "tcp://head-node:8786")),
        ("tls://h:8786", ("remote", "tls://h:8786")),
    ],
)
def test_parse_address(text, expected):
    assert cluster.parse_address(text) == expected


@pytest.mark.parametrize("text", ["local:0", "local:x", "local", "http://h:8786", "justahost", "tcp://"])
def test_parse_address_names_the_forms(text):
    with pytest.raises(ValueError, match="local:N"):
        cluster.parse_address(text)


def test_grid_digest_is_the_grid():
    assert compare.grid_digest(_grid()) == compare.grid_digest(_grid())
    assert compare.grid_digest(_grid()) != compare.grid_digest(_grid()[:-1])


# -- errors before anything runs ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flag, value, words",
    [("--cluster", "bogus", "local:N"), ("--shard", "3/2", "K/N"), ("--shard", "9/9", "slice 9 of 9 is empty")],
)
def test_bad_cluster_arguments_exit_2(tmp_path, flag, value, words):
    out = adbench(
        "compare", "--problems", "basic", "--backends", "manual", flag, value, "--output", str(tmp_path / "x.csv")
    )
    assert out.returncode == 2, out.stderr
    assert words in out.stderr
    assert not list(tmp_path.iterdir()), "something was written"


def test_unreachable_scheduler_is_a_clear_error_before_anything_runs(tmp_path, monkeypatch):
    pytest.importorskip("distributed", reason="--cluster needs the [cluster] extra")
    from adbench import cli

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    t0 = time.monotonic()
    code = cli.main(
        [
            "compare",
            "--problems",
            "basic",
            "--backends",
            "manual",
            "--cluster",
            "tcp://127.0.0.1:9",
            "--output",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 2
    assert time.monotonic() - t0 < 30
    assert not list(tmp_path.iterdir()), "a set was started for a cluster that is not there"


# -- a LocalCluster, end to end ----------------------------------------------------------------------------
FN = textwrap.dedent('''
    """A user function whose first calls, on the first tries of its group, hold up and name their Dask worker."""
    import os, time
    from pathlib import Path

    def f(x, xp):
        # The parent's NumPy trial calls f too, before any worker starts: its parent is not a Dask worker.
        if b"adbench.engine.worker" not in open("/proc/self/cmdline", "rb").read():
            return xp.sin(x) * 2.0
        marks = Path(os.environ["ADBENCH_TEST_MARKS"])
        wanted = int(os.environ.get("ADBENCH_TEST_KILLS", "0"))
        if len(list(marks.glob("worker-*"))) < wanted:
            (marks / f"worker-{os.getppid()}").write_text(str(os.getppid()))
            time.sleep(120)  # until the test kills this group's Dask worker
        return xp.sin(x) * 2.0
''')


def _killer(marks: Path, kills: int, proc: subprocess.Popen, limit_s: float = 150) -> list[int]:
    """Kill each Dask worker that marks itself, ``kills`` times; the pids killed."""
    killed: list[int] = []
    t0 = time.monotonic()
    while len(killed) < kills and proc.poll() is None and time.monotonic() - t0 < limit_s:
        for mark in marks.glob("worker-*"):
            pid = int(mark.read_text() or 0)
            if pid and pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.1)
    return killed


# The default run keeps the killed-once case (it also covers a clean group beside it); the other two ~6 s each.
@pytest.mark.parametrize(
    "kills",
    [pytest.param(0, marks=pytest.mark.slow), 1, pytest.param(2, marks=pytest.mark.slow)],
    ids=["no-fault", "killed-once-rerun", "killed-twice-error"],
)
def test_local_cluster_end_to_end(tmp_path, kills, monkeypatch):
    """Two one-slot workers; with kills, the user function's group loses its Dask worker mid-group (once:
    run again elsewhere and complete; twice: its cases are errors that say so) and the other groups are kept."""
    pytest.importorskip("distributed", reason="--cluster needs the [cluster] extra")
    (tmp_path / "slowfn.py").write_text(FN)
    monkeypatch.syspath_prepend(str(tmp_path))
    marks = tmp_path / "marks"
    marks.mkdir()
    csv = tmp_path / "run.csv"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}",
        "ADBENCH_TEST_MARKS": str(marks),
        "ADBENCH_TEST_KILLS": str(kills),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adbench",
            "compare",
            "--problems",
            "basic,loss",
            "--problem",
            "slowfn:f",
            "--sizes",
            "2",
            "--backends",
            "autograd,finite-diff,manual",
            "--operations",
            "jacobian",
            "--rounds",
            "2",
            "--time-budget",
            "8",
            "--cluster",
            "local:2",
            "--output",
            str(csv),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    killed = _killer(marks, kills, proc) if kills else []
    out, err = proc.communicate(timeout=240)
    assert len(killed) == kills, err
    frame, meta = read_results(csv)
    specs = compare.build_grid(
        ["basic", "loss", "slowfn:f"], ["autograd", "finite-diff", "manual"], None, [2], operations=["jacobian"]
    )
    assert len(frame) == len(specs), f"cases lost: {len(frame)} of {len(specs)}\n{err}"
    theirs = frame[frame["problem"] == "slowfn:f"]
    others = frame[frame["problem"] != "slowfn:f"]
    assert (others["status"] == "ok").all(), others[["problem", "backend", "status", "error"]].to_string()
    if kills < 2:
        ran = theirs[theirs["backend"] != "manual"]  # a user's function has no hand-written Jacobian: skipped
        assert (ran["status"] == "ok").all(), theirs[["backend", "status", "error"]].to_string()
        assert proc.returncode == 0, err
        assert frame["host"].notna().all()
    else:
        assert (theirs["status"] == "error").all()
        assert theirs["error"].str.contains("lost twice").all(), theirs["error"].tolist()
        assert theirs["host"].isna().all()
        assert proc.returncode == 1
    assert set(meta["hosts"]) == set(frame["host"].dropna())
    assert meta["settings"]["cluster"] == "local:2"
    words = meta["budget"]["cluster"]
    assert words["groups"] == 3 and words["lost_twice"] == (kills == 2) and words["rerun"] == min(kills, 1)
    assert "On the Dask cluster local:2: 3 case groups" in " ".join(out.split()), out  # wrapped to the width
    # Every comparison pairs two cases of one group (on one host), as a local run's do.
    cases = meta["cases"]
    for a, b, *_ in meta["comparisons"]:
        assert (cases[a]["problem"], cases[a]["host"]) == (cases[b]["problem"], cases[b]["host"])
    assert json.loads(Path(str(csv)[:-4] + ".json").read_text())["format_version"] == FORMAT_VERSION


def test_interrupted_cluster_run_keeps_every_finished_group(tmp_path, monkeypatch):
    """Ctrl-C while one group still runs (its function holds up): the groups that came back are in the set."""
    pytest.importorskip("distributed", reason="--cluster needs the [cluster] extra")
    (tmp_path / "slowfn.py").write_text(FN)
    marks = tmp_path / "marks"
    marks.mkdir()
    csv = tmp_path / "run.csv"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}",
        "ADBENCH_TEST_MARKS": str(marks),
        "ADBENCH_TEST_KILLS": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adbench",
            "compare",
            "--problems",
            "basic,loss",
            "--problem",
            "slowfn:f",
            "--sizes",
            "2",
            "--backends",
            "autograd,manual",
            "--operations",
            "jacobian",
            "--rounds",
            "2",
            "--time-budget",
            "6",
            "--cluster",
            "local:2",
            "--output",
            str(csv),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    t0, finished = time.monotonic(), set()
    while (
        (finished != {"basic", "loss"} or not list(marks.glob("worker-*")))
        and time.monotonic() - t0 < 120
        and proc.poll() is None
    ):
        time.sleep(0.2)
        try:
            frame, _ = read_results(csv)
            finished = set(frame["problem"])
        except Exception:  # noqa: BLE001 (not written yet, or between its two files)
            pass
    assert finished == {"basic", "loss"}, proc.stderr.read() if proc.poll() is not None else "no set in 120 s"
    assert list(marks.glob("worker-*")), "the slow group is not running"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    frame, _ = read_results(csv)
    assert set(frame["problem"]) == {"basic", "loss"} and (frame["status"] == "ok").all()
    assert "interrupted: kept the finished cases" in err


def test_a_worker_pool_carries_framework_workers_from_one_group_to_the_next():
    """What a Dask worker does between its groups: the second run reuses the first's worker, emptied."""
    from adbench.engine.runner import Scheduler
    from adbench.engine.workers import WorkerPool

    settings = compare.settings_for(time_budget_s=2.0, min_visits=2, adaptive=False)
    pool = WorkerPool()
    try:
        first = Scheduler(compare.build_grid(["basic"], ["manual"], None, None, "float64"), settings, pool=pool).run()
        (kept,) = pool.idle.values()
        second = Scheduler(compare.build_grid(["loss"], ["manual"], None, [3], "float64"), settings, pool=pool).run()
        assert (pool.started, pool.reused) == (1, 1)
        assert pool.idle and next(iter(pool.idle.values())) is kept
        assert all(r.status == "ok" and r.visits == 2 for r in first.results + second.results)
        interrupted = Scheduler(compare.build_grid(["tall"], ["manual"], None, [3], "float64"), settings, pool=pool)
        interrupted._finished = False  # as after an interrupt: nothing goes back to the pool
        interrupted.workers = {("numpy", 0, 0): pool.take(("numpy", 0, 0), ["manual"], interrupted.settings)}
        interrupted._close_all()
        assert not pool.idle and not kept.alive
    finally:
        pool.close()


def test_a_scheduler_without_a_bench_worker_is_refused_before_anything_runs():
    distributed = pytest.importorskip("distributed", reason="--cluster needs the [cluster] extra")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as lc:
        with pytest.raises(cluster.ClusterError, match="offers the 'bench' resource.*--resources bench=1"):
            cluster.connect(lc.scheduler_address)
