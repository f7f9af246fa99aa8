"""Resident memory of a process: the current level, a resettable peak (Linux), and returning freed memory."""

from __future__ import annotations

import ctypes
import functools
import gc
import os
from collections.abc import Callable

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes(pid: int | str = "self") -> int | None:
    """Resident set size of ``pid`` (this process by default), or None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def reset_peak() -> int | None:
    """Start a new peak: free what can be freed, reset VmHWM; the resident level it starts from.

    Writing 5 to /proc/self/clear_refs resets the high-water mark (Linux >= 4.0). None where
    that is not possible: peaks are then not measured rather than measured wrong.
    """
    gc.collect()
    _malloc_trim()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def peak_since(baseline: int | None) -> int | None:
    """Peak resident bytes above ``baseline`` since ``reset_peak`` returned it."""
    if baseline is None:
        return None
    peak = _status_kib("VmHWM")
    return None if peak is None else max(0, peak - baseline)


@functools.cache
def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _malloc_trim() -> None:
    # glibc keeps freed blocks in its arenas; handing them back keeps one case's garbage out of
    # the next case's baseline and lets its peak count what it really allocates.
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


PR_SET_PDEATHSIG = 1


def death_signal_setter(signum: int = 9) -> Callable[[], None] | None:
    """What a child calls, between fork and exec, to be sent ``signum`` (SIGKILL) when its parent
    dies (PR_SET_PDEATHSIG); None where there is no prctl.

    libc and its ``prctl`` symbol are resolved here, in the parent: a child forked from a
    multi-threaded process must not dlopen or dlsym (the loader's lock may be held by a thread
    that no longer exists in the child), so the returned closure only calls a resolved function.
    """
    libc = _libc()
    prctl = getattr(libc, "prctl", None) if libc is not None else None
    if prctl is None:
        return None

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signum)

    return set_death_signal
