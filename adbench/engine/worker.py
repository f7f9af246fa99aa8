"""A worker process for one framework: builds the cases it is sent, keeps them, visits them on request, and
answers on a private pipe in the messages of ``adbench.engine.protocol``.

Started by adbench.engine.workers with its CPUs pinned, its death tied to its parent's and the thread
settings already in its environment, all before this interpreter started, so every library it
loads (NumPy's BLAS included) sees them from the start. Its stdout belongs to the frameworks'
chatter; answers go to the file descriptor given on the command line.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from adbench.engine import protocol
    from adbench.engine.cases import CaseSpec

MAX_MESSAGE_CHARS = 1000  # of an error's message in the CSV and on the terminal


def describe(exc: BaseException) -> str:
    """``Type: message`` for an exception: its first line of substance, never a framework's footnote.

    JAX appends a note about its filtered frames after the message; ``format_exception_only``'s
    last line is that note, so the message is taken from ``str(exc)`` instead.
    """
    message = str(exc).strip()
    lines = [line for line in message.splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(lines) > 1 and len(text) < 40:
        text = " ".join(lines[:3])
    if len(text) > MAX_MESSAGE_CHARS:  # the whole message is in the traceback, in the JSON sidecar
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module.startswith("jax"):
        name = f"jax.{name}"  # JAX's errors live in private modules; jax.<Name> is how users know them
    elif module not in ("builtins", "__main__"):
        name = f"{module}.{name}"  # torch._dynamo.exc.Unsupported says which part of a framework refused
    if isinstance(exc, SystemExit):
        return f"SystemExit: the case called sys.exit({exc.code!r})"
    return f"{name}: {text}" if text else name


def missing_name(exc: BaseException, spec: CaseSpec, xp_names: dict[int, str]) -> str | None:
    """For an AttributeError on the array namespace: which backend lacks which name, said plainly."""
    if isinstance(exc, AttributeError) and getattr(exc, "obj", None) is not None and id(exc.obj) in xp_names:
        return (
            f"{spec.problem} uses xp.{exc.name}, which backend {spec.backend!r} lacks "
            f"(its array namespace is {xp_names[id(exc.obj)]})"
        )
    return None


def main() -> None:
    answer_fd, threads, parent = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[4])
    backends = sys.argv[3].split(",")
    if os.getppid() != parent:  # the parent died before PR_SET_PDEATHSIG took hold
        os._exit(1)
    # The parent decides what an interrupt means (it keeps the finished cases and stops us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A crash in compiled code (a segfault in a framework) leaves Python's fatal error and the
    # innermost frames on stderr, which the parent puts in the case's error.
    faulthandler.enable()
    out = os.fdopen(answer_fd, "w", buffering=1, encoding="utf-8")

    import importlib

    from adbench.engine import protocol

    # The case machinery loads before the hello, while the run starts its workers: not in a first build's time.
    importlib.import_module("adbench.engine.cases")

    versions, unavailable, builds = _load(backends, threads)
    xp_names = _namespace_names(backends, unavailable)
    # Everything loaded so far lives as long as the worker: frozen, the collector no longer walks
    # it, so the collection before each case (memory.reset_peak) takes a millisecond, not 80.
    import gc

    gc.collect()
    gc.freeze()
    out.write(protocol.Ready(versions, unavailable, builds, os.getpid()).encode())
    _serve(out, xp_names)


def _load(backends: list[str], threads: int) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """Each backend's framework loaded (and preloaded) on ``threads``: the frameworks' versions and builds, and
    why each backend that would not load is unavailable."""
    from adbench.backends import get_backend

    versions, unavailable, builds = {}, {}, {}
    for name in backends:
        backend = get_backend(name)
        try:
            backend.load(threads)
            backend.preload()
            versions[backend.framework] = backend.version()
            builds[backend.framework] = backend.build_info()
        except Exception as exc:  # noqa: BLE001 - a framework's load fails many ways; each is its reason unavailable
            unavailable[name] = describe(exc)
    return versions, unavailable, builds


def _namespace_names(backends: list[str], unavailable: dict[str, str]) -> dict[int, str]:
    """The array namespaces this worker hands problems (and no other: importing torch's would cost a numpy-only
    worker seconds and hundreds of MB), by id, to name a missing xp.NAME plainly."""
    from adbench.backends import get_backend
    from adbench.xp import namespace

    xp_names = {}
    frameworks = {"numpy"} | {get_backend(name).framework for name in backends if name not in unavailable}
    for framework in sorted(frameworks):
        try:
            xp = namespace(framework)
            xp_names[id(xp)] = getattr(xp, "__name__", framework)
        except Exception:  # noqa: BLE001 - no namespace only loses the plain name in a message; never fatal
            pass
    return xp_names


Kept = dict[int, tuple]  # case -> (prepared case, number, f_number): what the runner may visit


def _serve(out: TextIO, xp_names: dict[int, str]) -> None:
    """Answer each request on stdin, one line each on ``out``, until stdin closes."""
    from adbench.engine import protocol
    from adbench.engine.cases import CaseSpec

    kept: Kept = {}
    warmed: set[tuple] = set()
    for line in sys.stdin:
        request = protocol.parse_request(line)  # a malformed request is the runner's bug: the worker ends
        if isinstance(request, protocol.Forget):
            kept.pop(request.case, None)
            continue
        case = request.case
        spec = None
        try:
            if isinstance(request, protocol.Visit):
                text = _visit(request, kept)
            else:
                spec = CaseSpec(**request.spec)
                text = _build(request, spec, kept, warmed, out)
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a case is the case's error, not the worker's end
            kept.pop(case, None)
            words = (missing_name(exc, spec, xp_names) if spec is not None else None) or describe(exc)
            text = protocol.Failed(case, words, traceback.format_exc()).encode()
        out.write(text)


def _visit(request: protocol.Visit, kept: Kept) -> str:
    """A held case's visit: its samples, as the answer's line."""
    from adbench.engine import protocol
    from adbench.engine.cases import visit

    case = request.case
    if case not in kept:
        raise LookupError(f"case {case} was not built in this worker")
    prepared, number, f_number = kept[case]
    op, fun = visit(
        prepared, number, f_number, request.samples, request.f_samples, request.warm_calls, request.f_warm_calls
    )
    return protocol.Sampled(case, op, fun).encode()


def _build(request: protocol.Build, spec: CaseSpec, kept: Kept, warmed: set[tuple], out: TextIO) -> str:
    """A case built (the run's first build of it, or again from its calibration) and held: the answer's line
    (``Built``, or ``Skipped`` by the memory guard). A ``Progress`` line goes to ``out`` once its first call
    is done."""
    from adbench.engine import protocol
    from adbench.engine.cases import first_build, rebuild, warm_up

    case = request.case
    kept.pop(case, None)

    def progressed(seconds: float) -> None:
        out.write(protocol.Progress(case, "first_call", seconds).encode())

    # Once per backend, operation and mode in each worker: the framework's one-time start (XLA's
    # client, a transform's first use) stays out of every first call that follows.
    key = (spec.backend, spec.operation, spec.mode, spec.dtype, spec.chunk_size, spec.device)
    if key not in warmed:
        warmed.add(key)
        try:
            warm_up(spec)
        except Exception:  # noqa: BLE001 - the warm-up's own trouble; the case itself will say its own
            pass
    if request.first:
        answer, prepared = first_build(spec, request.memory_limit_bytes, progressed)
    elif request.number is None or request.f_number is None:
        raise protocol.BadRequest(f"case {case}: a build that is not the first needs number and f_number")
    else:
        answer, prepared = rebuild(spec, request.number, request.f_number, progressed)
    if prepared is None:
        return protocol.Skipped(case, answer["skipped"], answer.get("memory_estimate_bytes")).encode()
    text = protocol.Built(case, **answer).encode()  # whole before anything is written
    kept[case] = (prepared, answer["number"], answer["f_number"])
    return text


if __name__ == "__main__":
    main()
