"""What the fault probes share: ``python -m adbench`` in a subprocess, its workers in /proc, its result set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Every probe's run: one visit per case, tiny visits, Jacobians only.
# No adaptive visits: these probes check what a run records and survives, not how long it keeps measuring
# (a run with open comparisons would spend the rest of the default budget on them).
FAST = ["--rounds", "1", "--budget", "0.002", "--operations", "jacobian", "--no-adaptive"]
PROBE_TIMEOUT_S = 180  # no single subprocess may hang the suite


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    wall_s: float
    pid: int = 0


def environ(extra_path: Sequence[Path] = ()) -> dict[str, str]:
    """This checkout's adbench first on the path (the workers import it too), warnings as the user has them."""
    env = dict(os.environ)
    paths = [*map(str, extra_path), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.pop("PYTHONWARNINGS", None)
    return env


def start(
    cwd: Path, *args: str, env: dict[str, str] | None = None, wrap: Sequence[str] = (), module: str = "adbench"
) -> subprocess.Popen:
    """``python -m adbench ARGS`` in ``cwd``, in its own session (so a stuck one is killed whole), with
    SIGINT's default action, as in a terminal: a shell starts a background job (`pytest ... &`, a CI
    runner's) with SIGINT ignored, the child would inherit that, and Python then installs no
    KeyboardInterrupt handler, so the Ctrl-C probes would see a run that never hears the signal."""
    return subprocess.Popen(
        [*wrap, sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env or environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(proc: subprocess.Popen, t0: float, timeout: float = PROBE_TIMEOUT_S) -> Run:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        err += f"\n[faults: killed after {timeout:g} s]"
    return Run(proc.returncode, out, err, time.monotonic() - t0, proc.pid)


def adbench(
    cwd: Path, *args: str, timeout: float = PROBE_TIMEOUT_S, env: dict[str, str] | None = None, wrap: Sequence[str] = ()
) -> Run:
    t0 = time.monotonic()
    return finish(start(cwd, *args, env=env, wrap=wrap), t0, timeout)


def python(cwd: Path, code: str, timeout: float = PROBE_TIMEOUT_S, env: dict[str, str] | None = None) -> Run:
    """A short script in a fresh interpreter (the API, or the runner driven directly)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env or environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    return finish(proc, t0, timeout)


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def kill_all(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def chmod_back(tmp: Path) -> None:
    """Make a probe's read-only folders writable again, so its temporary folder can be removed."""
    for path in [tmp, *tmp.rglob("*")]:
        try:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        except OSError:
            pass


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def read_set(csv: Path):
    from adbench.engine.results import read_results

    return read_results(csv)


def short(text: str, chars: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


# The assertions every probe makes about a finished run.
def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr, f"traceback: {short(last_line(run.stderr))}"


def exit_is(run: Run, code: int) -> None:
    assert run.rc == code, f"exit {run.rc}, expected {code} ({short(last_line(run.stderr), 160)})"


# /proc scans: the run's workers, alive or not.
def _stat(pid: int) -> tuple[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])  # state, ppid


def worker_pids(parent: int) -> list[int]:
    """Live ``adbench.engine.worker`` processes whose parent is ``parent``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st is None or st[1] != parent:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"adbench.engine.worker" in cmdline:
            pids.append(int(entry.name))
    return pids


def workers_of(run: int) -> list[int]:
    """Live ``adbench.engine.worker`` processes started by the run ``run``, wherever they were re-parented
    (a worker's last argument is its parent's pid)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a for a in args if a]
        if b"adbench.engine.worker" in args and args[-1] == str(run).encode() and alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def wait_dead(pids: Iterable[int], within_s: float) -> list[int]:
    """The pids still alive after ``within_s`` seconds."""
    pids = list(pids)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        pids = [p for p in pids if alive(p)]
        if not pids:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def csv_rows(csv: Path) -> int:
    try:
        return max(0, len(csv.read_text().strip().splitlines()) - 1)
    except OSError:
        return 0


def vm_hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[1] == pid:
                children.append(int(entry.name))
    return children


def cases(frame, **where):
    for key, value in where.items():
        frame = frame[frame[key] == value]
    return frame


def statuses(frame) -> str:
    return ", ".join(f"{r.problem} n={r.size} {r.backend}/{r.mode}: {r.status}" for r in frame.itertuples())


def without_dac_override() -> list[str]:
    """A prefix that runs a command without root's permission to write anywhere (empty when not root)."""
    import shutil

    import pytest

    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: a read-only folder cannot be made read-only to us")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
