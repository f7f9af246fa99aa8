"""Runs a grid of cases: one worker process per framework, a time limit per case, results kept as they come."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from adbench.backends import get_backend
from adbench.cases import CaseSpec, skip_reason
from adbench.problems import get_problem
from adbench.threads import cpus_for, worker_environment

ResultCallback = Callable[[dict[str, Any]], None]


@dataclass
class RunSettings:
    threads: int = 1
    budget_s: float = 0.2
    timeout_s: float = 60.0
    memory_limit_bytes: int | None = None
    worker_start_timeout_s: float = 120.0


def base_row(spec: CaseSpec, threads: int) -> dict[str, Any]:
    problem, backend = get_problem(spec.problem), get_backend(spec.backend)
    return {
        **spec.as_dict(),
        "framework": backend.framework,
        "n_inputs": spec.size,
        "n_outputs": problem.n_outputs(spec.size),
        "threads": threads,
        "status": "ok",
        "error": None,
    }


class WorkerDied(RuntimeError):
    pass


class Worker:
    """One framework's worker process and the pipe its answers come back on."""

    def __init__(self, backends: list[str], settings: RunSettings) -> None:
        self.settings = settings
        read_fd, write_fd = os.pipe()
        self.stderr = tempfile.TemporaryFile(mode="w+")
        cpus = ",".join(map(str, sorted(cpus_for(settings.threads))))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adbench.worker", str(write_fd), str(settings.threads), ",".join(backends), cpus],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            env=worker_environment(settings.threads),
            pass_fds=(write_fd,),
            text=True,
        )
        os.close(write_fd)
        self.answers = os.fdopen(read_fd, "r", encoding="utf-8")
        try:
            self.hello = self.receive(settings.worker_start_timeout_s)
        except BaseException:
            self.close()
            raise

    def receive(self, timeout_s: float) -> dict[str, Any] | None:
        """The next answer, or ``None`` after ``timeout_s``; raises WorkerDied if the process ended."""
        ready, _, _ = select.select([self.answers], [], [], timeout_s)
        if not ready:
            return None
        line = self.answers.readline()
        if not line:
            code = self.proc.wait()
            raise WorkerDied(f"worker process died (exit code {code}){self.stderr_tail()}")
        return json.loads(line)

    def stderr_tail(self, chars: int = 400) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().strip()
        return f": ...{text[-chars:]}" if text else ""

    def send(self, spec: CaseSpec) -> None:
        try:
            self.proc.stdin.write(json.dumps({"spec": spec.as_dict(), "budget_s": self.settings.budget_s}) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:  # the worker died between two cases
            raise WorkerDied(f"worker process died (exit code {self.proc.wait()}){self.stderr_tail()}") from exc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for fh in (self.answers, self.stderr, self.proc.stdin):
            try:
                fh.close()
            except OSError:
                pass


@dataclass
class RunOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False


def group_by_framework(specs: Iterable[CaseSpec]) -> dict[str, list[CaseSpec]]:
    groups: dict[str, list[CaseSpec]] = {}
    for spec in specs:
        groups.setdefault(get_backend(spec.backend).framework, []).append(spec)
    return groups


def run_grid(
    specs: list[CaseSpec],
    settings: RunSettings,
    on_result: ResultCallback | None = None,
    outcome: RunOutcome | None = None,
) -> RunOutcome:
    """Run every case; each finished, failed, timed-out or skipped case goes to ``on_result`` at once.

    Frameworks run one after another (never side by side: they would share the cores they are
    being timed on). A case that raises is an ``error``; one that outlives ``timeout_s`` or kills
    its worker is recorded and a fresh worker takes the remaining cases. Ctrl-C stops the run
    and returns what finished, with ``interrupted`` set.
    """
    outcome = outcome or RunOutcome()

    def record(row: dict[str, Any]) -> None:
        outcome.rows.append(row)
        if on_result:
            on_result(row)

    try:
        for framework, group in group_by_framework(specs).items():
            _run_group(group, settings, record, outcome)
    except KeyboardInterrupt:
        outcome.interrupted = True
    return outcome


def _run_group(group: list[CaseSpec], settings: RunSettings, record: ResultCallback, outcome: RunOutcome) -> None:
    pending = []
    for spec in group:
        reason, estimate = skip_reason(spec, settings.memory_limit_bytes)
        row = {**base_row(spec, settings.threads), "memory_estimate_bytes": estimate}
        if reason:
            record({**row, "status": "skipped", "error": reason})
        else:
            pending.append((spec, row))

    backends = sorted({spec.backend for spec, _ in pending})
    worker: Worker | None = None
    try:
        while pending:
            if worker is None:
                try:
                    worker = Worker(backends, settings)
                except WorkerDied as exc:
                    for _, row in pending:
                        record({**row, "status": "error", "error": str(exc)})
                    return
                if worker.hello is None:
                    for _, row in pending:
                        record({**row, "status": "timeout", "error": "worker did not start in time"})
                    return
                outcome.versions.update(worker.hello["versions"])
                outcome.unavailable.update(worker.hello["unavailable"])
            spec, row = pending.pop(0)
            if spec.backend in outcome.unavailable:
                record({**row, "status": "skipped", "error": f"backend unavailable: {outcome.unavailable[spec.backend]}"})
                continue
            started = time.perf_counter()
            try:
                worker.send(spec)
                answer = worker.receive(settings.timeout_s)
            except WorkerDied as exc:
                record({**row, "status": "error", "error": str(exc), "wall_s": time.perf_counter() - started})
                worker.close()
                worker = None
                continue
            wall = time.perf_counter() - started
            if answer is None:
                record({**row, "status": "timeout", "wall_s": wall,
                        "error": f"no result within the case time limit of {settings.timeout_s:g} s (--timeout)"})
                worker.close()
                worker = None
            elif answer["type"] == "error":
                record({**row, "status": "error", "error": answer["error"], "wall_s": wall})
            else:
                record({**row, **answer["row"], "wall_s": wall})
    finally:
        if worker is not None:
            worker.close()
