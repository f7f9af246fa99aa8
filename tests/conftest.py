"""Shared fixtures: which backends work here, and skips that say why."""

from __future__ import annotations

import functools

import pytest

from adbench.backends import backend_info, backend_names, get_backend


@functools.cache
def availability(name: str):
    return backend_info(name)


def require_backend(name: str) -> None:
    """Skip (not fail) when the backend's framework is missing, with its import error as the reason."""
    info = availability(name)
    if not info.available:
        pytest.skip(f"backend {name} unavailable: {info.reason}")


def backend_modes(operation: str = "jacobian") -> list[tuple[str, str]]:
    """Every (backend, mode) pair the registry offers for ``operation``, whether or not installed here."""
    return [(b, m) for b in backend_names() for m in get_backend(b).modes_for(operation)]
