"""``python -m adbench gradbench-tool --backend B``: one adbench backend as a gradbench tool, on stdin/stdout.

Each evaluate message is built into prepared adbench cases (timed as ``prepare``), called once
(``first_call``: trace, compile and run on a JIT backend), then run until ``min_runs`` runs and
``min_seconds`` have passed, every run synchronised (the backend's own sync), one ``evaluate`` timing each;
its output is converted after the last run. Imports here stay light: the CLI registers this module's arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # at run time each is imported where used: the tool's --list must not load a framework
    from collections.abc import Callable

    import numpy as np

    from adbench.backends import Backend, Dtype, ModeName, Operation
    from adbench.backends._base import Sync
    from adbench.gradbench.evals import Plan, Step
    from adbench.gradbench.protocol import Analysis, Define, Evaluate, Runs
    from adbench.xp import Array

    # What a step runs: its call, the backend's sync (None where calls return finished results), to NumPy.
    PreparedStep = tuple[Callable[[], Array], Sync | None, Callable[[Array], np.ndarray]]

THREADS_MARK = "ADBENCH_GRADBENCH_TOOL_THREADS"  # set in the re-executed process whose threads are configured


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", help="the adbench AD backend to answer with (--list shows them)")
    parser.add_argument("--list", action="store_true", help="print the backends this tool can run and exit")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads every framework may use (default 1, as adbench's compare): set before any framework loads",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda, where the backend runs on one")


def tool_backends() -> list[str]:
    """The backends a gradbench tool can be: every AD backend (not the NumPy baselines), in display order."""
    from adbench.backends import backend_names, get_backend

    return [name for name in backend_names() if not get_backend(name).baseline]


def main(args: argparse.Namespace) -> int:
    """The CLI's entry: --list, or the protocol loop on this process's stdin and stdout."""
    from adbench.errors import UnknownChoiceError

    if args.list:
        return print_list()
    names = tool_backends()
    if args.backend is None:
        print(
            f"adbench gradbench-tool: error: --backend is required; valid choices: {', '.join(names)}", file=sys.stderr
        )
        return 2
    if args.backend not in names:
        print(f"adbench gradbench-tool: error: {UnknownChoiceError('backend', args.backend, names)}", file=sys.stderr)
        return 2
    if args.device not in ("cpu", "cuda"):
        print(
            f"adbench gradbench-tool: error: {UnknownChoiceError('device', args.device, ('cpu', 'cuda'))}",
            file=sys.stderr,
        )
        return 2
    from adbench.engine.threads import DEFAULT_THREADS, check_threads

    try:
        threads = check_threads(args.threads if args.threads is not None else DEFAULT_THREADS)
    except ValueError as exc:
        print(f"adbench gradbench-tool: error: {exc}", file=sys.stderr)
        return 2
    if os.environ.get(THREADS_MARK) != str(threads):
        _reexec(args.backend, threads, args.device)  # does not return
    # stdout is the protocol's: frameworks' own prints (TensorFlow's, XLA's) go to stderr instead.
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return Tool(args.backend, threads, args.device).serve(sys.stdin, protocol_out)


def _reexec(backend: str, threads: int, device: str) -> None:
    """Run this command again in a process whose thread settings and CPU affinity are in place before anything
    loads (NumPy's BLAS sizes its pool at import, XLA at its start), as adbench's workers are started."""
    from adbench.engine.threads import cpus_for, worker_environment

    env = worker_environment(threads, device=device)
    env[THREADS_MARK] = str(threads)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus_for(threads))  # inherited across exec
    sys.stdout.flush()
    os.execve(
        sys.executable,
        [
            sys.executable,
            "-m",
            "adbench",
            "gradbench-tool",
            "--backend",
            backend,
            "--threads",
            str(threads),
            "--device",
            device,
        ],
        env,
    )


def print_list() -> int:
    """Each AD backend with whether this tool can run it here: its version and dtype, or why not."""
    import shutil

    from adbench.backends import backend_info

    width = shutil.get_terminal_size((100, 24)).columns
    rows = []
    for name in tool_backends():
        info = backend_info(name)
        if info.available:
            dtype, why = run_dtype(name)
            note = f"{info.framework} {info.version}, {dtype}" + (f" ({why})" if why else "")
        else:
            note = f"unavailable: {info.reason}"
        rows.append((name, "yes" if info.available else "no", note))
    name_w = max(len("backend"), *(len(r[0]) for r in rows))
    print(f"{'backend':<{name_w}}  runs  notes")
    for name, ok, note in rows:
        line = f"{name:<{name_w}}  {ok:<4}  {note}"
        print(line if len(line) <= width else line[: width - 3] + "...")
    print("Run one: python -m adbench gradbench-tool --backend NAME  (docs/gradbench.md)"[:width])
    return 0


def run_dtype(backend: str) -> tuple[Dtype, str | None]:
    """float64, or float32 with the reason where the backend refuses float64 (MLX on a CPU whose float64 sin,
    cos and exp are float32-accurate): asked of the backend itself, by preparing a tiny case."""
    import numpy as np

    from adbench.backends import Direction, get_backend
    from adbench.problems import get_problem

    be, problem = get_backend(backend), get_problem("lse")
    x = np.linspace(0.1, 0.3, 3)
    try:
        be.prepare(problem, x, "vjp", "reverse", "float64", {}, Direction(u=np.asarray(1.0))).run()
        return "float64", None
    except Exception as exc:  # noqa: BLE001 (the backend's own refusal: its words say why)
        return "float32", f"{type(exc).__name__}: {exc}"


class Tool:
    """The protocol loop of one backend: each message answered with one line, in order."""

    def __init__(self, backend: str, threads: int, device: str = "cpu") -> None:
        self.backend_name, self.threads, self.device = backend, threads, device
        self.defined: set[str] = set()
        self.analyses: dict[int, Analysis] = {}  # evaluate id -> the eval's verdict
        self._backend: Backend | None = None
        self._unavailable: str | None = None
        self.dtype: Dtype = "float64"
        self.dtype_reason: str | None = None

    # -- the backend, loaded once -----------------------------------------------------------------------------
    def backend(self) -> Backend:
        """The loaded backend; a RuntimeError with the framework's import error where it cannot load."""
        if self._backend is None and self._unavailable is None:
            from adbench.backends import get_backend

            be = get_backend(self.backend_name)
            try:
                be.load(self.threads)
                be.preload()
                self.dtype, self.dtype_reason = run_dtype(self.backend_name)
                self._backend = be
            except Exception as exc:  # noqa: BLE001 (an ImportError, or a broken install raising anything)
                self._unavailable = f"backend {self.backend_name!r} is unavailable here: {type(exc).__name__}: {exc}"
        if self._unavailable or self._backend is None:
            raise RuntimeError(self._unavailable)
        return self._backend

    def config(self) -> dict[str, Any]:
        """What the start response says about this tool: backend, framework and version, dtype, threads."""
        import adbench

        config: dict[str, Any] = {
            "backend": self.backend_name,
            "adbench": adbench.__version__,
            "threads": self.threads,
            "device": self.device,
            "timings": "one 'evaluate' per synchronised run; the first call apart as "
            "'first_call', the input's conversion and build as 'prepare'",
        }
        try:
            be = self.backend()
            config.update(framework=be.framework, version=be.version(), dtype=self.dtype)
            if self.dtype_reason:
                config["dtype_reason"] = self.dtype_reason
        except RuntimeError as exc:
            config["unavailable"] = str(exc)
        return config

    # -- the loop ----------------------------------------------------------------------------------------------
    def serve(self, lines: TextIO, out: TextIO) -> int:
        """Answer every line until EOF or an ``end`` message; exit status 0."""
        from adbench.gradbench import protocol

        for line in lines:
            if not line.strip():
                continue
            response = self.respond(line)
            if response is None:  # end: gradbench's eval reads no answer to it
                break
            out.write(protocol.encode(response) + "\n")
            out.flush()
        return 0

    def respond(self, line: str) -> dict[str, Any] | None:
        """The response to one line: never an exception (a bad line, or a failing case, is an error response)."""
        from adbench.gradbench import protocol

        try:
            message = protocol.parse(line)
        except protocol.ProtocolError as exc:
            return protocol.failure(exc.id, str(exc))
        try:
            if isinstance(message, protocol.Start):
                return {"id": message.id, "tool": f"adbench-{self.backend_name}", "config": self.config()}
            if isinstance(message, protocol.Define):
                return self.define(message)
            if isinstance(message, protocol.Evaluate):
                return self.evaluate(message)
            if isinstance(message, protocol.Analysis):
                self.analyses[message.of] = message
                if not message.valid:
                    print(
                        f"gradbench-tool: the eval found response {message.of} invalid: {message.error}",
                        file=sys.stderr,
                    )
                return {"id": message.id}
            return None  # End
        except protocol.ProtocolError as exc:
            return protocol.failure(message.id, str(exc))
        except Exception as exc:  # noqa: BLE001 (the tool's own bug: said in the error, the loop goes on)
            import traceback

            return protocol.failure(message.id, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")

    def define(self, message: Define) -> dict[str, Any]:
        from adbench.gradbench import evals

        if message.module not in evals.EVALS:
            return {
                "id": message.id,
                "success": False,
                "error": f"adbench has no eval {message.module!r}; it defines {', '.join(evals.EVALS)}",
            }
        try:
            self.backend()
        except RuntimeError as exc:
            return {"id": message.id, "success": False, "error": str(exc)}
        self.defined.add(message.module)
        return {"id": message.id, "success": True}

    def evaluate(self, message: Evaluate) -> dict[str, Any]:
        from adbench.gradbench import evals, protocol

        if message.module not in self.defined:
            return protocol.failure(message.id, f"module {message.module!r} was not defined (send a define first)")
        runs = protocol.runs(message.input, message.id)
        try:
            plan = evals.plan(message.module, message.function, message.input)
        except (KeyError, TypeError, ValueError) as exc:
            return protocol.failure(message.id, f"{message.module}::{message.function}: {exc}")
        try:
            output, timings = run_plan(self.backend(), plan, runs, self.dtype, self.device)
        except Exception as exc:  # noqa: BLE001 (a case the backend or registry refuses, or one that fails)
            from adbench.engine.worker import describe

            return protocol.failure(
                message.id, f"{message.module}::{message.function} on {self.backend_name}: {describe(exc)}"
            )
        return {"id": message.id, "success": True, "output": output, "timings": timings}


def prepared_step(backend: Backend, step: Step, dtype: Dtype, device: str) -> PreparedStep:
    """(call, sync, to_numpy) of one step on ``backend``: the registry's problem, the backend's derivative."""
    import numpy as np

    from adbench.backends import Direction
    from adbench.gradbench.evals import FUNCTION

    problem, x = step.problem, np.asarray(step.x, np.float64)
    problem.check_input(x)
    constants = problem.constants(x, **step.constants)
    n = x.shape[0]
    operation: Operation
    modes: tuple[ModeName, ...]
    if step.operation == FUNCTION:
        # f itself: a VJP case's f (every AD backend has VJPs, and building one makes no basis).
        operation, modes = "vjp", ("reverse",)
        u = np.zeros(()) if problem.is_scalar(n) else np.zeros(problem.n_outputs(n))
        direction = Direction(u=u)
    else:
        operation, modes, direction = step.operation, step.modes, step.direction
    offered = [m for m in modes if backend.supports(problem, operation, m, n, None, device) is None]
    if not offered:
        raise ValueError(backend.supports(problem, operation, modes[0], n, None, device))
    prepared = backend.prepare(problem, x, operation, offered[0], dtype, constants, direction, device=device)
    call = prepared.function if step.operation == FUNCTION else prepared.call
    if call is None:  # a nested problem's case has no f apart from its call
        raise ValueError(f"problem {problem.name!r} differentiates inside itself: it has no plain f to evaluate")
    return call, prepared.sync, prepared.to_numpy


def run_plan(backend: Backend, plan: Plan, runs: Runs, dtype: Dtype, device: str) -> tuple[Any, list[dict[str, Any]]]:
    """The plan's output and its timings: ``prepare``, ``first_call``, then one ``evaluate`` per run.

    A run calls every step and syncs each result (the backend's sync: JAX's block_until_ready, MLX's eval, a
    CUDA synchronise); conversion to NumPy and to the eval's output happens after the last run. The garbage
    collector is off while runs are timed, as in adbench's own visits (and timeit).
    """
    import gc
    import time

    from adbench.gradbench.protocol import EVALUATE, FIRST_CALL, PREPARE, timing

    t0 = time.perf_counter()
    steps = [prepared_step(backend, step, dtype, device) for step in plan.steps]
    timings = [timing(PREPARE, time.perf_counter() - t0)]

    def one_run() -> list[Array]:
        outs = []
        for call, sync, _ in steps:
            out = call()
            if sync is not None:
                sync(out)
            outs.append(out)
        return outs

    t0 = time.perf_counter()
    outs = one_run()
    timings.append(timing(FIRST_CALL, time.perf_counter() - t0))
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        total, count = 0.0, 0
        while count < runs.min_runs or total < runs.min_seconds:
            t0 = time.perf_counter()
            outs = one_run()
            elapsed = time.perf_counter() - t0
            timings.append(timing(EVALUATE, elapsed))
            total, count = total + elapsed, count + 1
    finally:
        if gc_was_enabled:
            gc.enable()
    results = [to_numpy(out) for (_, _, to_numpy), out in zip(steps, outs)]
    return plan.output(results), timings
