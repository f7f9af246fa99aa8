"""Worker processes: one per framework, started pinned with its death tied to the parent's, its pipe read
with a time limit and a memory watch, kept in a pool between runs; and the parent's own pinning."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO, Protocol

from adbench.engine import memory, protocol
from adbench.engine.caches import compile_cache_dir
from adbench.engine.protocol import BadAnswer, WorkerDied
from adbench.engine.settings import RunSettings
from adbench.engine.signals import signals_deferred
from adbench.engine.threads import move_process, worker_environment

WATCHDOG_POLL_S = 0.05  # how often a running worker's resident memory is read


WorkerKey = tuple[str, int, int]  # framework, replicate, worker set


class MemoryExceeded(RuntimeError):
    pass


# A worker's stderr goes to a file the parent reads only when something went wrong. Past this
# size (a case printing in a loop) its tail is kept in memory and the file emptied, so a chatty
# case costs neither disk nor the parent's memory.
STDERR_CAP_BYTES = 8 << 20
STDERR_KEEP_BYTES = 64 << 10
MAX_ANSWER_BYTES = 256 << 20  # one answer line; a long visit's samples are a few kB
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


class WorkerHandle(Protocol):
    """What the scheduler needs of a worker: a real process (``Worker``) or a test's fake."""

    @property
    def pid(self) -> int: ...

    @property
    def alive(self) -> bool: ...

    def wait_ready(self) -> protocol.Ready | None: ...

    def send(self, message: protocol.Message) -> None: ...

    def receive(self, timeout_s: float) -> protocol.Message | None: ...

    def close(self) -> None: ...

    def move_to(self, cpus: frozenset[int]) -> None: ...


class Worker:
    """One framework's worker process and the pipe its answers come back on."""

    def __init__(
        self,
        backends: list[str],
        settings: RunSettings,
        compile_cache: str | None = None,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self.settings = settings
        self.buffer = bytearray()  # what came after the last complete answer line
        self.kept_stderr = b""  # the tail of what was cut from the stderr file
        self.closed = False
        self.hello: protocol.Ready | None = None  # kept: a pooled worker greets its next run with it
        env = worker_environment(
            settings.threads,
            device=settings.device,
            compile_cache=compile_cache,
            kept_compiles=compile_cache_dir() if settings.keep_compiles else None,
        )
        self.stderr = tempfile.TemporaryFile(mode="w+b")
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "adbench.engine.worker",
                    str(write_fd),
                    str(settings.threads),
                    ",".join(backends),
                    str(os.getpid()),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,  # frameworks' (and user functions') chatter
                stderr=self.stderr,
                env=env,
                pass_fds=(write_fd,),
                text=True,
                preexec_fn=_preexec(set(cpus or settings.cpus)),
            )
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            self.stderr.close()
            raise
        os.close(write_fd)
        # Popen types stdin optional; started with stdin=PIPE it is always there.
        self.stdin: IO[str] = self.proc.stdin  # type: ignore[assignment]
        self.fd = read_fd
        os.set_blocking(self.fd, False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return not self.closed and self.proc.poll() is None

    def wait_ready(self) -> protocol.Ready | None:
        """The worker's hello (versions, unavailable backends), or None (the worker closed) if it did
        not come within the start limit. Raises WorkerDied when the process ends first."""
        if self.hello is not None:
            return self.hello
        try:
            hello = self.receive(self.settings.worker_start_timeout_s, watch_memory=False)
            if hello is not None and not isinstance(hello, protocol.Ready):
                raise BadAnswer(f"worker sent a {hello.type!r} message instead of its hello")
        except BaseException:
            self.close()
            raise
        if hello is None:
            self.close()
        self.hello = hello
        return hello

    def receive(self, timeout_s: float, watch_memory: bool = True) -> protocol.Message | None:
        """The next message, or ``None`` after ``timeout_s``.

        Reads the raw pipe without blocking, so a partial line never suspends the time limit.
        Raises WorkerDied when the process ends, BadAnswer for a line that is not a message of the
        protocol, MemoryExceeded (after killing it) when its resident memory passes the limit.
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
                if limit and rss is not None and rss > limit:
                    self.kill()
                    raise MemoryExceeded(
                        f"killed at {rss / 2**30:.2f} GiB resident, over the limit "
                        f"{limit / 2**30:.2f} GiB (--memory-limit)"
                    )
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
                raise BadAnswer(
                    f"worker sent {len(self.buffer) / 2**20:.0f} MiB without ending a line (something "
                    f"in the case wrote to the worker's answer pipe): "
                    f"{protocol.shown(bytes(self.buffer[:80]))}"
                )
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 1]
        return protocol.parse(line)

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
            data = self.kept_stderr[-(limit - len(data)) :] + data
        return data

    def stderr_tail(self, chars: int = 400) -> str:
        """What the worker said last; for a crash, Python's fatal error and the innermost frames."""
        text = self._stderr_bytes(STDERR_KEEP_BYTES).decode("utf-8", errors="replace").strip()
        if "Fatal Python error" in text:
            lines = text[text.index("Fatal Python error") :].splitlines()
            # faulthandler lists the crashing thread's frames innermost first, after its header.
            current = next(
                (
                    i
                    for i, line in enumerate(lines)
                    if line.startswith(("Current thread", "Thread"))
                    and "most recent call first" in line
                    and i + 1 < len(lines)
                    and "threading.py" not in lines[i + 1]
                ),
                None,
            )
            frames = [line.strip() for line in lines[current + 1 : current + 4]] if current is not None else []
            return ": " + "; ".join([lines[0].strip(), *frames])[: chars * 2]
        text = " ".join(text[-chars:].split())  # one line: it lands in a CSV cell and a terminal line
        return f": ...{text}" if text else ""

    # -- requests and the end ------------------------------------------------------------------
    def send(self, message: protocol.Message) -> None:
        try:
            self.stdin.write(message.encode())
            self.stdin.flush()
        except (OSError, ValueError) as exc:  # the worker died between two requests
            raise WorkerDied(self._death_words()) from exc

    def move_to(self, cpus: frozenset[int]) -> None:
        """Pin every thread of the process to ``cpus`` (its pools keep the size they were started with)."""
        move_process(self.proc.pid, cpus)

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
            for closer in (lambda: os.close(self.fd), self.stderr.close, self.stdin.close):
                try:
                    closer()
                except (OSError, ValueError):
                    pass
            self.closed = True


def _exit_words(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerPool:
    """Worker processes kept from one run to the next in one process (a Dask worker's case groups, run one
    after another): a run takes the worker it would have started, and gives back, emptied, the ones still
    well when it ends normally, so each group does not pay for starting every framework again. A worker is
    reused only under the settings it was started with."""

    def __init__(self) -> None:
        self.idle: dict[tuple, Worker] = {}
        self.cache = tempfile.TemporaryDirectory(prefix="adbench-pool-cache-")
        self.started = self.reused = 0

    @staticmethod
    def _key(key: WorkerKey, backends: list[str], settings: RunSettings) -> tuple:
        return (
            key,
            tuple(backends),
            settings.threads,
            tuple(sorted(settings.cpus)),
            settings.device,
            settings.memory_limit_bytes,
            settings.worker_start_timeout_s,
        )

    def take(
        self, key: WorkerKey, backends: list[str], settings: RunSettings, cpus: frozenset[int] | None = None
    ) -> Worker:
        worker = self.idle.pop(self._key(key, backends, settings), None)
        if worker is not None and worker.alive:
            self.reused += 1
            return worker
        if worker is not None:
            worker.close()
        self.started += 1
        return Worker(backends, settings, self.cache.name, cpus)

    def give(self, key: WorkerKey, backends: list[str], settings: RunSettings, worker: Worker) -> None:
        k = self._key(key, backends, settings)
        if not worker.alive or k in self.idle:
            worker.close()
            return
        self.idle[k] = worker

    def close(self) -> None:
        for worker in self.idle.values():
            worker.close()
        self.idle.clear()
        self.cache.cleanup()


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
