"""Runs a grid of cases in rounds: a fresh worker process per framework per round, frameworks interleaved,
a time limit and a memory watchdog per case, results kept as they come."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adbench.engine import memory
from adbench.backends import get_backend
from adbench.engine.cases import CaseSpec
from adbench.errors import Terminated
from adbench.problems import get_problem
from adbench.engine.record import CaseResult
from adbench.engine.signals import signals_deferred
from adbench.engine.threads import cpus_for, worker_environment

ResultCallback = Callable[[CaseResult], None]
WATCHDOG_POLL_S = 0.05  # how often a running worker's resident memory is read
# A round whose median is this far from another round's counts as disagreeing; when a fifth of
# the cases disagree so, the run says the machine was busy.
ROUND_DISAGREEMENT = 1.25
BUSY_SHARE = 0.2


@dataclass
class RunSettings:
    threads: int = 1
    budget_s: float = 0.1  # sampling seconds per case, shared by its rounds
    rounds: int = 2
    timeout_s: float = 60.0
    memory_limit_bytes: int | None = None
    worker_start_timeout_s: float = 120.0
    device: str = "cpu"
    # The CPUs workers are pinned to: the first `threads` of this process's mask, taken when the
    # settings are made (the parent then moves its own bookkeeping to the others).
    cpus: frozenset[int] = frozenset()
    compile_cache: str | None = None  # set by run_grid: one private folder per run

    def __post_init__(self) -> None:
        if not self.cpus:
            self.cpus = frozenset(cpus_for(self.threads))


class WorkerDied(RuntimeError):
    """The worker process ended (or stopped answering sensibly) before the case did."""


class BadAnswer(WorkerDied):
    """The worker sent something that is not an answer: the case fails and the worker is replaced."""


class MemoryExceeded(RuntimeError):
    pass


# A worker's stderr goes to a file the parent reads only when something went wrong. Past this
# size (a case printing in a loop) its tail is kept in memory and the file emptied, so a chatty
# case costs neither disk nor the parent's memory.
STDERR_CAP_BYTES = 8 << 20
STDERR_KEEP_BYTES = 64 << 10
MAX_ANSWER_BYTES = 256 << 20  # one answer line; the largest real ones (--budget 3600) hold ~100 MB of samples
REAP_TIMEOUT_S = 5.0  # a worker that closed its answer pipe gets this long to exit before it is killed


def _preexec(cpus: set[int]) -> Callable[[], None]:
    # Resolved here, in the parent: the child of a multi-threaded parent must not load libraries
    # or look up symbols between fork and exec (the loader's locks may be held by a dead thread).
    set_death_signal = memory.death_signal_setter()
    cpus = set(cpus)

    def setup() -> None:
        # In the child, before Python starts: the CPUs every library will size its pools from,
        # and death with the parent (a killed `adbench compare` leaves no worker burning a core).
        if cpus:
            os.sched_setaffinity(0, cpus)
        if set_death_signal is not None:
            set_death_signal()
        # Whatever signals the parent's thread had blocked, the worker starts with none blocked.
        signal.pthread_sigmask(signal.SIG_SETMASK, set())

    return setup


class Worker:
    """One framework's worker process and the pipe its answers come back on."""

    def __init__(self, backends: list[str], settings: RunSettings) -> None:
        self.settings = settings
        self.buffer = bytearray()  # what came after the last complete answer line
        self.hello: dict[str, Any] | None = None
        self.kept_stderr = b""  # the tail of what was cut from the stderr file
        self.closed = False
        env = worker_environment(settings.threads, device=settings.device, compile_cache=settings.compile_cache)
        self.stderr = tempfile.TemporaryFile(mode="w+b")
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "adbench.engine.worker", str(write_fd), str(settings.threads), ",".join(backends),
                 str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,  # frameworks' (and user functions') chatter
                stderr=self.stderr,
                env=env,
                pass_fds=(write_fd,),
                text=True,
                preexec_fn=_preexec(set(settings.cpus)),
            )
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            self.stderr.close()
            raise
        os.close(write_fd)
        self.fd = read_fd
        os.set_blocking(self.fd, False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return not self.closed and self.proc.poll() is None

    @classmethod
    def start(cls, backends: list[str], settings: RunSettings, workers: dict[str, Worker | None],
              framework: str) -> Worker:
        """A new worker, entered in ``workers`` before an interrupt can separate the two."""
        with signals_deferred():
            worker = workers[framework] = cls(backends, settings)
        return worker

    def wait_ready(self) -> dict[str, Any] | None:
        """The worker's hello (versions, unavailable backends), or None (the worker closed) if it did
        not come within the start limit. Raises WorkerDied when the process ends first."""
        try:
            hello = self.receive(self.settings.worker_start_timeout_s, watch_memory=False)
            if hello is not None and (hello.get("type") != "ready" or not isinstance(hello.get("versions"), dict)
                                      or not isinstance(hello.get("unavailable"), dict)):
                raise BadAnswer(f"worker sent {_shown(hello)} instead of its hello")
        except BaseException:
            self.close()
            raise
        if hello is None:
            self.close()
        self.hello = hello
        return hello

    def receive(self, timeout_s: float, watch_memory: bool = True) -> dict[str, Any] | None:
        """The next answer, or ``None`` after ``timeout_s``.

        Reads the raw pipe without blocking, so a partial line never suspends the time limit.
        Raises WorkerDied when the process ends, BadAnswer for a line that is not a JSON object,
        MemoryExceeded (after killing it) when its resident memory passes the limit.
        """
        deadline = time.monotonic() + timeout_s
        limit = self.settings.memory_limit_bytes if watch_memory else None
        poller = select.poll()
        poller.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        next_check = 0.0
        end = self.buffer.find(b"\n")
        while end < 0:
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= next_check:  # the watchdog, also while a flood of bytes keeps the pipe busy
                next_check = now + WATCHDOG_POLL_S
                self._cap_stderr()
                rss = memory.rss_bytes(self.proc.pid) if limit else None
                if rss is not None and rss > limit:
                    self.kill()
                    raise MemoryExceeded(
                        f"killed at {rss / 2**30:.2f} GiB resident, over the limit "
                        f"{limit / 2**30:.2f} GiB (--memory-limit)")
            if not poller.poll(1000 * max(0.0, min(deadline, next_check) - time.monotonic())):
                continue
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                raise WorkerDied(self._death_words())
            newline = chunk.find(b"\n")
            if newline >= 0:
                end = len(self.buffer) + newline
            self.buffer += chunk
            if end < 0 and len(self.buffer) > MAX_ANSWER_BYTES:
                self.kill()
                raise BadAnswer(f"worker sent {len(self.buffer) / 2**20:.0f} MiB without ending a line (something "
                                f"in the case wrote to the worker's answer pipe): {_shown(bytes(self.buffer[:80]))}")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 1]
        try:
            message = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise BadAnswer(f"worker sent an unreadable answer {_shown(line)} (something in the case wrote "
                            f"to the worker's answer pipe)") from None
        if not isinstance(message, dict):
            raise BadAnswer(f"worker sent {_shown(message)}, not an answer")
        return message

    def _death_words(self) -> str:
        """Why the answer pipe closed: the exit status (waiting a little for it), and stderr's tail."""
        try:
            code = self.proc.wait(timeout=REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            return f"worker closed its answer pipe and did not exit; killed{self.stderr_tail()}"
        words = _exit_words(code)
        if code == -signal.SIGKILL:
            words += ", by the system's out-of-memory killer or another process"
        return f"worker process died ({words}){self.stderr_tail()}"

    # -- stderr --------------------------------------------------------------------------------
    def _cap_stderr(self) -> None:
        try:
            size = os.fstat(self.stderr.fileno()).st_size
            if size > STDERR_CAP_BYTES:
                self.kept_stderr = self._stderr_bytes(STDERR_KEEP_BYTES)
                # The worker writes through a duplicate of this descriptor, sharing its offset:
                # emptying the file and rewinding it starts the worker's writes over.
                os.ftruncate(self.stderr.fileno(), 0)
                os.lseek(self.stderr.fileno(), 0, os.SEEK_SET)
        except (OSError, ValueError):
            pass

    def _stderr_bytes(self, limit: int) -> bytes:
        """The last ``limit`` bytes the worker wrote to stderr (read without moving its offset)."""
        try:
            fd = self.stderr.fileno()
            size = os.fstat(fd).st_size
            start = max(0, size - limit)
            data = os.pread(fd, size - start, start)
        except (OSError, ValueError):
            data = b""
        if len(data) < limit and self.kept_stderr:
            data = self.kept_stderr[-(limit - len(data)):] + data
        return data

    def stderr_tail(self, chars: int = 400) -> str:
        """What the worker said last; for a crash, Python's fatal error and the innermost frames."""
        text = self._stderr_bytes(STDERR_KEEP_BYTES).decode("utf-8", errors="replace").strip()
        if "Fatal Python error" in text:
            lines = text[text.index("Fatal Python error"):].splitlines()
            # faulthandler lists the crashing thread's frames innermost first, after its header.
            current = next((i for i, line in enumerate(lines) if line.startswith(("Current thread", "Thread"))
                            and "most recent call first" in line and i + 1 < len(lines)
                            and "threading.py" not in lines[i + 1]), None)
            frames = [line.strip() for line in lines[current + 1: current + 4]] if current is not None else []
            return ": " + "; ".join([lines[0].strip(), *frames])[:chars * 2]
        text = " ".join(text[-chars:].split())  # one line: it lands in a CSV cell and a terminal line
        return f": ...{text}" if text else ""

    # -- requests and the end ------------------------------------------------------------------
    def send(self, request: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError) as exc:  # the worker died between two cases
            raise WorkerDied(self._death_words()) from exc

    def kill(self) -> None:
        """End the process now and reap it; signals (Ctrl-C) wait until it is done."""
        with signals_deferred():
            if self.proc.poll() is None:
                try:
                    self.proc.kill()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=2 * REAP_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # unkillable for now (uninterruptible sleep): init reaps it
                pass

    def close(self) -> None:
        """Kill and reap the process and release its pipes and file; safe to call twice, and an
        interrupt arriving meanwhile waits until it is done."""
        with signals_deferred():
            if self.closed:
                return
            self.kill()
            for closer in (lambda: os.close(self.fd), self.stderr.close, self.proc.stdin.close):
                try:
                    closer()
                except (OSError, ValueError):
                    pass
            self.closed = True


def _shown(value: Any, chars: int = 80) -> str:
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return repr(text if len(text) <= chars else text[:chars] + "...")


def _exit_words(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class RunOutcome:
    results: list[CaseResult] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=dict)
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)  # per framework: CUDA build, devices
    unavailable: dict[str, str] = field(default_factory=dict)
    interrupted: int | None = None  # the signal that stopped the run
    noise: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [r.row() for r in self.results]


def new_result(spec: CaseSpec, threads: int) -> CaseResult:
    problem, backend = get_problem(spec.problem), get_backend(spec.backend)
    return CaseResult(
        problem=spec.problem, preset=problem.presets.get(spec.size), size=spec.size, n_inputs=spec.size,
        n_outputs=problem.known_n_outputs(spec.size), operation=spec.operation, backend=spec.backend,
        framework=backend.framework, mode=spec.mode, dtype=spec.dtype, device=spec.device,
        chunk_size=spec.chunk_size, threads=threads, seed=spec.seed, status="ok",
    )


def _framework_order(specs: list[CaseSpec]) -> list[str]:
    return list(dict.fromkeys(get_backend(s.backend).framework for s in specs))


def _groups(specs: list[CaseSpec]) -> list[list[CaseSpec]]:
    """Cases that answer one question together (same problem, size, operation, dtype, chunk, device)."""
    groups: dict[tuple, list[CaseSpec]] = {}
    for s in specs:
        groups.setdefault((s.problem, s.size, s.operation, s.dtype, s.chunk_size, s.device), []).append(s)
    return list(groups.values())


def run_grid(
    specs: list[CaseSpec],
    settings: RunSettings,
    on_result: ResultCallback | None = None,
    outcome: RunOutcome | None = None,
    on_round_end: Callable[[int], None] | None = None,
) -> RunOutcome:
    """Run every case in ``settings.rounds`` rounds; each case-round goes to ``on_result`` at once.

    In each round every framework gets a fresh worker process; the workers live side by side
    (idle but one) and the frameworks take turns case group by case group, in an order reversed
    every other round, so slow drift of the machine hits them alike. A case that raises is an
    ``error``, one that outlives ``timeout_s`` a ``timeout``, one whose worker passes the memory
    limit ``memory``; each is recorded once and not retried, and a fresh worker takes the
    framework's remaining cases. Ctrl-C or SIGTERM stops the run and returns what finished:
    every worker is killed and reaped, and every case that had something to say is in
    ``outcome.results``, whenever the interrupt arrived.
    """
    outcome = outcome or RunOutcome()
    by_spec = {spec: new_result(spec, settings.threads) for spec in specs}
    # A case enters the results when it first has something to say, in the grid's order: a case
    # never reached (an interrupted run) is absent rather than an empty "ok".
    position = {spec: i for i, spec in enumerate(specs)}
    touched: set[CaseSpec] = set()

    def publish() -> None:
        outcome.results[:] = [by_spec[s] for s in sorted(touched, key=position.get)]

    def report(spec: CaseSpec) -> None:
        with signals_deferred():
            if spec not in touched:
                touched.add(spec)
                publish()
        if on_result:
            on_result(by_spec[spec])

    done: set[CaseSpec] = set()  # skipped or failed: no further rounds
    outcome.noise["load_average_start"] = _load_average()
    restore: set[int] | None = None
    cache: tempfile.TemporaryDirectory | None = None
    workers: dict[str, Worker | None] = {}  # every live worker is here, so an interrupt can end it
    try:
        restore = _pin_parent(settings.cpus)
        cache = tempfile.TemporaryDirectory(prefix="adbench-compile-cache-")
        settings.compile_cache = cache.name
        for spec in specs:  # what can be known without evaluating f needs no worker
            reason = get_backend(spec.backend).supports(get_problem(spec.problem), spec.operation, spec.mode, None,
                                                        spec.chunk_size, spec.device)
            if reason is not None:
                by_spec[spec].fail("skipped", reason)
                done.add(spec)
                report(spec)
        started = {spec: 0.0 for spec in specs}
        per_round = settings.budget_s / settings.rounds
        frameworks = _framework_order(specs)
        for round_index in range(settings.rounds):
            order = frameworks if round_index % 2 == 0 else frameworks[::-1]
            pending = [s for s in specs if s not in done]
            if not pending:
                break
            backends_of: dict[str, list[str]] = {}
            for s in pending:  # each framework's worker loads the backends its pending cases use
                names = backends_of.setdefault(get_backend(s.backend).framework, [])
                if s.backend not in names:
                    names.append(s.backend)
            try:
                _start_workers(pending, order, backends_of, settings, outcome, by_spec, done, report, workers)
                for group in _groups(pending):
                    for framework in order:
                        for spec in group:
                            if spec in done or get_backend(spec.backend).framework != framework:
                                continue
                            t0 = time.perf_counter()
                            _run_one(spec, round_index, per_round, settings, workers, sorted(backends_of[framework]),
                                     by_spec[spec], done)
                            with signals_deferred():
                                started[spec] += time.perf_counter() - t0
                                by_spec[spec].wall_s = started[spec]
                            report(spec)
            finally:
                _close_all(workers)
            for result in outcome.results:
                result.summarize(intervals=False)  # intervals (a bootstrap each) once, at the end
            if on_round_end:
                on_round_end(round_index)
    except KeyboardInterrupt as exc:
        outcome.interrupted = _signal_of(exc)
    finally:
        # The run is over either way: an interrupt now waits until every worker is reaped and
        # every case that had something to say is in the results, summarized, then ends the run
        # the same way as one that arrived earlier.
        try:
            with signals_deferred():
                _close_all(workers)
                if cache is not None:
                    cache.cleanup()
                if restore:
                    os.sched_setaffinity(0, restore)
                # An interrupt between a case's answer and its report must not lose the case.
                touched.update(s for s, r in by_spec.items() if r.status != "ok" or r.raw_samples)
                publish()
                for result in outcome.results:
                    result.summarize()
                outcome.noise.update(noise_summary(outcome.results, settings.threads,
                                                   outcome.noise["load_average_start"]))
                outcome.noise["load_average_end"] = _load_average()
        except KeyboardInterrupt as exc:
            outcome.interrupted = outcome.interrupted or _signal_of(exc)
    return outcome


def _signal_of(exc: KeyboardInterrupt) -> int:
    return signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT


def _close_all(workers: dict[str, Worker | None]) -> None:
    """Kill and reap every worker; an interrupt arriving meanwhile waits until all are closed."""
    with signals_deferred():
        for framework, worker in list(workers.items()):
            if worker is not None:
                worker.close()
            workers[framework] = None


def _start_workers(pending, order, backends_of, settings, outcome, by_spec, done, report, workers) -> None:
    """A worker per framework with pending cases, started together (nothing is timed meanwhile),
    each entered in ``workers`` as soon as it exists."""
    for framework in order:
        if framework in backends_of:
            try:
                Worker.start(sorted(backends_of[framework]), settings, workers, framework)
            except OSError as exc:
                workers[framework] = None
                _fail_all(pending, framework, "error", f"cannot start a worker process: {exc}", by_spec, done,
                          report)
    for framework in order:
        worker = workers.get(framework)
        if worker is None:
            continue
        try:
            hello = worker.wait_ready()
            reason = f"worker did not start within {settings.worker_start_timeout_s:g} s"
        except WorkerDied as exc:
            hello, reason = None, str(exc)
        if hello is None:
            workers[framework] = None
            _fail_all(pending, framework, "error", reason, by_spec, done, report)
            continue
        outcome.versions.update(hello["versions"])
        outcome.builds.update(hello.get("builds") or {})
        outcome.unavailable.update(hello["unavailable"])
        for s in pending:
            if s.backend in hello["unavailable"] and s not in done:
                with signals_deferred():
                    by_spec[s].fail("skipped", f"backend unavailable: {hello['unavailable'][s.backend]}")
                    done.add(s)
                report(s)


def _fail_all(pending, framework, status, reason, by_spec, done, report) -> None:
    for s in pending:
        if get_backend(s.backend).framework == framework and s not in done:
            with signals_deferred():
                by_spec[s].fail(status, reason)
                done.add(s)
            report(s)


def _run_one(spec: CaseSpec, round_index: int, budget_s: float, settings: RunSettings,
             workers: dict[str, Worker | None], backends: list[str], result: CaseResult, done: set) -> None:
    """One round of one case on its framework's worker (a fresh one if the last was replaced)."""
    framework = get_backend(spec.backend).framework

    def fail(status: str, reason: str, traceback: str | None = None) -> None:
        with signals_deferred():
            result.fail(status, reason, traceback)
            done.add(spec)

    def fresh() -> Worker | None:
        """A new worker for this framework, or None after failing the case with the reason."""
        try:
            worker = Worker.start(backends, settings, workers, framework)
        except OSError as exc:
            fail("error", f"cannot start a worker process: {exc}")
            return None
        try:
            hello = worker.wait_ready()
        except WorkerDied as exc:
            workers[framework] = None
            fail("error", str(exc))
            return None
        if hello is None:
            workers[framework] = None
            fail("error", f"worker did not start within {settings.worker_start_timeout_s:g} s")
            return None
        if spec.backend in hello["unavailable"]:
            fail("skipped", f"backend unavailable: {hello['unavailable'][spec.backend]}")
            return None
        return worker

    def retire(worker: Worker) -> None:
        worker.close()
        workers[framework] = None

    worker = workers.get(framework)
    if worker is not None and not worker.alive:
        # It died after its last answer (a case's stray thread, an outside kill): not this case's doing.
        retire(worker)
        worker = None
    if worker is None and (worker := fresh()) is None:
        return
    request = {"spec": spec.as_dict(), "budget_s": budget_s, "first": round_index == 0,
               "memory_limit_bytes": settings.memory_limit_bytes,
               # With rounds to pool, a slow case needs fewer samples each: 2 per round, 3 alone.
               "min_samples": 3 if settings.rounds == 1 else 2}
    try:
        worker.send(request)
    except WorkerDied:  # gone before the request reached it: a fresh worker, once
        retire(worker)
        if (worker := fresh()) is None:
            return
        try:
            worker.send(request)
        except WorkerDied as exc:
            retire(worker)
            fail("error", str(exc))
            return
    try:
        answer = worker.receive(settings.timeout_s)
    except (WorkerDied, MemoryExceeded) as exc:
        retire(worker)
        fail("memory" if isinstance(exc, MemoryExceeded) else "error", str(exc))
        return
    if answer is None:
        retire(worker)
        fail("timeout", f"no result within the case time limit of {settings.timeout_s:g} s (--timeout)")
        return
    with signals_deferred():  # an answer is applied whole or not at all
        try:
            _apply(answer, result)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            result.fail("error", f"worker sent a malformed answer ({type(exc).__name__}: {exc})")
        if result.status not in ("ok", "wrong"):  # error or skipped: no further rounds
            done.add(spec)
    if answer.get("type") == "error":
        # A case that raised may leave its framework broken for the rest of the process (a CUDA
        # error is sticky: every later call in that process fails): the next case gets a fresh worker.
        retire(worker)


def _apply(answer: dict[str, Any], result: CaseResult) -> None:
    """A worker's answer to one case round, entered in its record."""
    if answer["type"] == "error":
        result.fail("error", str(answer["error"]), answer.get("traceback"))
    elif answer["type"] != "result":
        raise ValueError(f"unknown answer type {answer['type']!r}")
    elif answer["answer"].get("status") == "skipped":
        result.fail("skipped", str(answer["answer"]["error"]))
        result.memory_estimate_bytes = answer["answer"].get("memory_estimate_bytes")
    else:
        result.add_round(answer["answer"])


def _pin_parent(worker_cpus: frozenset[int]) -> set[int] | None:
    """Move the parent's bookkeeping off the CPUs its workers are timed on, where there are others;
    the mask to restore afterwards (None when nothing changed)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    mine = os.sched_getaffinity(0)
    rest = mine - worker_cpus
    if not rest or rest == mine:
        return None
    os.sched_setaffinity(0, rest)
    return mine


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def noise_summary(results: list[CaseResult], threads: int, load_start: float | None) -> dict[str, Any]:
    """Was the machine visibly busy? Others' load when the run started, and rounds that disagree."""
    spreads = [r.round_spread for r in results if r.status in ("ok", "wrong") and r.round_spread]
    disagree = sum(s >= ROUND_DISAGREEMENT for s in spreads)
    share = disagree / len(spreads) if spreads else None
    from adbench.engine.environment import usable_cpus

    cpus = usable_cpus()
    reasons = []
    # Before the first worker starts, all the load is other processes': more than the CPUs the
    # run leaves free means someone shares the ones it times on.
    if load_start is not None and load_start > max(cpus - threads, 0) + 0.5:
        reasons.append(f"load average {load_start:g} on {cpus} CPUs when the run started")
    if share is not None and share >= BUSY_SHARE:
        reasons.append(f"{disagree} of {len(spreads)} cases' rounds differ by {ROUND_DISAGREEMENT - 1:.0%} or more")
    return {
        "busy": bool(reasons), "busy_reasons": reasons,
        "rounds_disagreeing": disagree, "cases_with_rounds": len(spreads),
        "round_disagreement_threshold": ROUND_DISAGREEMENT,
    }
