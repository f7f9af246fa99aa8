"""Signals held while two steps that belong together run: a result set's two files, a worker's reaping."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while a set is written (or a worker is reaped), so Ctrl-C never lands
    between two steps that belong together; a signal that arrived meanwhile is delivered after.

    The signals are held by swapping their Python handlers for one that notes them, not by
    blocking them: a blocked process-directed signal is delivered to another thread (a BLAS
    helper), whose C handler would still make the main thread raise at its next instruction.
    Only the main thread handles signals; elsewhere this holds nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = (signal.SIGINT, signal.SIGTERM)
    pending: list[int] = []

    def note(signum: int, frame: Any) -> None:
        pending.append(signum)

    previous = {}
    try:
        for signum in held:
            previous[signum] = signal.signal(signum, note)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for number in dict.fromkeys(pending):
            signal.raise_signal(number)  # to the handler just restored: KeyboardInterrupt, Terminated...
