"""Exceptions with messages that name the valid choices."""

from __future__ import annotations

from collections.abc import Iterable


class UnknownChoiceError(ValueError, KeyError):
    """An unknown problem, backend, mode, dtype or format name."""

    def __init__(self, kind: str, value: object, choices: Iterable[str]) -> None:
        self.kind, self.value, self.choices = kind, value, sorted(choices)
        super().__init__(f"unknown {kind} {value!r}; valid choices: {', '.join(self.choices)}")

    # KeyError's __str__ would quote the whole message; ValueError's reads better.
    __str__ = ValueError.__str__


class BackendUnavailableError(ImportError):
    """A backend whose framework cannot be imported here (the message carries the import error)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: finished cases are kept and the run stops (exit status 143)."""
