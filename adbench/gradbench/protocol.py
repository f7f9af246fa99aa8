"""gradbench's protocol: the eval's messages parsed and checked, and the tool's responses, one JSON line each.

The message and response shapes are gradbench's (``js/common/protocol.ts``, ``crates/gradbench/src/protocol.rs``):
the eval sends ``start``, ``define``, ``evaluate`` and ``analysis`` (each with an integer ``id``; its Python evals
end with ``end``, which gets no response); every response carries the message's ``id``. A line that is not a
valid message gets a response in the shape gradbench uses for a failure, ``{"id", "success": false, "error"}``
(``id`` null when the line has none), so an eval reads an error instead of waiting for a line that never comes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, TypeGuard

KINDS = ("start", "define", "evaluate", "analysis", "end")
# The one timing name gradbench averages (its crates/gradbench/src/stats.rs scores the mean of the "evaluate"
# timings of each message); the others are shown beside it and left out of that mean.
EVALUATE = "evaluate"
FIRST_CALL = "first_call"  # the first synchronised call on the converted input: trace, compile (JIT backends), run
PREPARE = "prepare"  # the input's conversion and the case's build (gradbench's C++ tools name theirs "prepare")


class ProtocolError(ValueError):
    """A line that is not a valid message: answered with an error response, never a traceback."""

    def __init__(self, message: str, id: int | None = None) -> None:
        super().__init__(message)
        self.id = id


@dataclass(frozen=True)
class Numbered:
    """What every message carries (gradbench's ``Base``): the id its response repeats."""

    id: int


@dataclass(frozen=True)
class Start(Numbered):
    eval: str | None = None
    config: Any = None


@dataclass(frozen=True)
class Define(Numbered):
    module: str


@dataclass(frozen=True)
class Evaluate(Numbered):
    module: str
    function: str
    input: Any
    description: str | None = None


@dataclass(frozen=True)
class Analysis(Numbered):
    """The eval's verdict on an earlier evaluate response (``of`` its id): acknowledged, and kept."""

    of: int
    valid: bool
    error: str | None = None


@dataclass(frozen=True)
class End(Numbered):
    """The eval is done: it gets no response."""


Message = Start | Define | Evaluate | Analysis | End


@dataclass(frozen=True)
class Runs:
    """gradbench's ``Runs``: evaluate at least ``min_runs`` times, and until the runs total ``min_seconds``."""

    min_runs: int = 1
    min_seconds: float = 0.0


def _is_int(value: object) -> TypeGuard[int]:
    """An integer that is not a bool (JSON's ``true`` is no id)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _field(obj: dict[str, Any], name: str, kind: str, id: int | None, optional: bool = False) -> Any:
    if name not in obj:
        if optional:
            return None
        raise ProtocolError(f"a {kind!r} message needs the field {name!r}", id)
    return obj[name]


def _optional_text(obj: dict[str, Any], name: str, kind: str, id: int | None) -> str | None:
    value = _field(obj, name, kind, id, optional=True)
    if value is not None and not isinstance(value, str):
        raise ProtocolError(f"field {name!r} of a {kind!r} message must be a string, not {json.dumps(value)}", id)
    return value


def _text(obj: dict[str, Any], name: str, kind: str, id: int | None) -> str:
    value = _field(obj, name, kind, id)
    if not isinstance(value, str):
        raise ProtocolError(f"field {name!r} of a {kind!r} message must be a string, not {json.dumps(value)}", id)
    return value


def parse(line: str) -> Message:
    """The message on one line, or a ProtocolError naming what is wrong (with the id, where it has one)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not a JSON message ({exc.msg} at column {exc.colno}): {line.strip()[:80]!r}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"a message is a JSON object, not {type(obj).__name__}: {line.strip()[:80]!r}")
    id = obj.get("id")
    if not _is_int(id):
        raise ProtocolError(f"a message needs an integer 'id', not {json.dumps(id)}")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise ProtocolError(f"unknown message kind {json.dumps(kind)}; valid kinds: {', '.join(KINDS)}", id)
    if kind == "start":
        return Start(id, _optional_text(obj, "eval", kind, id), obj.get("config"))
    if kind == "define":
        return Define(id, _text(obj, "module", kind, id))
    if kind == "evaluate":
        return Evaluate(
            id,
            _text(obj, "module", kind, id),
            _text(obj, "function", kind, id),
            _field(obj, "input", kind, id),
            _optional_text(obj, "description", kind, id),
        )
    if kind == "analysis":
        of, valid = _field(obj, "of", kind, id), _field(obj, "valid", kind, id)
        if not _is_int(of) or not isinstance(valid, bool):
            raise ProtocolError("an 'analysis' message needs an integer 'of' and a boolean 'valid'", id)
        return Analysis(id, of, valid, _optional_text(obj, "error", kind, id))
    return End(id)


def runs(input: Any, id: int | None = None) -> Runs:
    """The input's ``min_runs`` and ``min_seconds`` (once, with no time floor, where it has neither: hello's
    input, or an older eval's ``runs``, read as ``min_runs``)."""
    if not isinstance(input, dict):
        return Runs()
    count = input.get("min_runs", input.get("runs", 1))
    seconds = input.get("min_seconds", 0.0)
    if not _is_int(count) or count < 1:
        raise ProtocolError(f"min_runs must be a positive integer, not {json.dumps(count)}", id)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise ProtocolError(f"min_seconds must be a finite number of seconds >= 0, not {json.dumps(seconds)}", id)
    return Runs(count, float(seconds))


# -- responses ----------------------------------------------------------------------------------------
def timing(name: str, seconds: float) -> dict[str, Any]:
    return {"name": name, "nanoseconds": max(0, round(seconds * 1e9))}


def failure(id: int | None, error: str, timings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The response to a message that failed (or a line that was none): gradbench's ``success: false``."""
    response: dict[str, Any] = {"id": id, "success": False, "error": error}
    if timings:
        response["timings"] = timings
    return response


def encode(response: dict[str, Any]) -> str:
    """One JSON line. gradbench reads strict JSON (serde_json): an output holding NaN or an infinity becomes
    a failure that says so, rather than a line the harness cannot parse."""
    try:
        return json.dumps(response, allow_nan=False)
    except ValueError:
        return json.dumps(
            failure(
                response.get("id"),
                "the output holds NaN or an infinity, which JSON cannot carry",
                response.get("timings"),
            )
        )
