"""A worker process for one framework: runs cases sent as JSON lines and answers on a private pipe.

Started by adbench.runner with the thread settings already in its environment, so every framework
it imports sees them from the start. Its stdout belongs to the frameworks' chatter; answers go
to the file descriptor given on the command line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback


def main() -> None:
    answer_fd, threads = int(sys.argv[1]), int(sys.argv[2])
    backends = sys.argv[3].split(",")
    cpus = {int(c) for c in sys.argv[4].split(",") if c}
    if cpus:
        # Pinned before any framework loads: XLA and OpenMP size their pools from this mask.
        os.sched_setaffinity(0, cpus)
    # The parent decides what an interrupt means (it keeps the finished cases and stops us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(answer_fd, "w", buffering=1, encoding="utf-8")

    def send(message: dict) -> None:
        out.write(json.dumps(message, default=float) + "\n")

    from adbench.backends import get_backend
    from adbench.cases import CaseSpec, run_case, warm_up

    versions, unavailable = {}, {}
    for name in backends:
        backend = get_backend(name)
        try:
            backend.load(threads)
            versions[backend.framework] = backend.version()
        except Exception as exc:
            unavailable[name] = f"{type(exc).__name__}: {exc}"
    send({"type": "ready", "versions": versions, "unavailable": unavailable})

    warmed: set[tuple[str, str, str]] = set()
    for line in sys.stdin:
        request = json.loads(line)
        spec = CaseSpec(**request["spec"])
        try:
            if (spec.backend, spec.mode, spec.dtype) not in warmed:
                warm_up(spec)
                warmed.add((spec.backend, spec.mode, spec.dtype))
            row = run_case(spec, budget_s=request["budget_s"])
            send({"type": "result", "row": row})
        except Exception as exc:
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            send({"type": "error", "error": tb, "traceback": traceback.format_exc()})


if __name__ == "__main__":
    main()
