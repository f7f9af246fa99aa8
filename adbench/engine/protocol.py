"""The worker protocol: typed messages between the runner and its workers, one JSON object a line, and the
one parser that validates them (``BadAnswer`` on anything else).

The runner asks a worker to ``Build`` a case (the run's first build of it also times its first
calls, measures its peak memory and checks its result), to ``Visit`` a case it holds (a few
calibrated samples of the operation and of f) and to ``Forget`` one. The worker says ``Ready``
once its frameworks are loaded, ``Progress`` when a build's first call (trace, compile, run) is
done (the runner then holds it to the steady-state limit instead of the compile limit), and
answers each request with ``Built``, ``Skipped``, ``Sampled`` or ``Failed``.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar


class WorkerDied(RuntimeError):
    """The worker process ended (or stopped answering sensibly) before the case did."""


class BadAnswer(WorkerDied):
    """The worker sent something that is not a message of this protocol: the case fails and the worker is replaced."""


class BadRequest(ValueError):
    """The worker was sent something that is not a request of this protocol (a bug in the runner)."""


@dataclass(frozen=True)
class Message:
    type: ClassVar[str] = ""

    def encode(self) -> str:
        """The message as one JSON line (NaN and infinities as null: a line is always valid JSON)."""
        body = {k: finite(v) for k, v in asdict(self).items()}
        return json.dumps({"type": self.type, **body}, allow_nan=False) + "\n"


@dataclass(frozen=True)
class CaseMessage(Message):
    """A message about one case (every message but the worker's hello): the case's index in the run."""

    case: int


# -- parent -> worker ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Build(CaseMessage):
    """Build a case and keep it. ``first``: the run's first build of it, which times f's and the
    operation's first calls, measures the peak memory and checks the result; otherwise the case is
    called once (its compilation, from the run's cache) and sampled with the given ``number``s."""

    type: ClassVar[str] = "build"
    spec: dict[str, Any]
    first: bool
    number: int | None = None
    f_number: int | None = None
    memory_limit_bytes: int | None = None


@dataclass(frozen=True)
class Visit(CaseMessage):
    """Sample a case the worker holds: ``warm_calls`` untimed calls, ``samples`` timed blocks of its
    ``number`` calls; then the same for f."""

    type: ClassVar[str] = "visit"
    samples: int
    f_samples: int
    warm_calls: int = 0
    f_warm_calls: int = 0


@dataclass(frozen=True)
class Forget(CaseMessage):
    """Drop a case (the runner keeps what a worker holds bounded); no answer."""

    type: ClassVar[str] = "forget"


# -- worker -> parent ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ready(Message):
    type: ClassVar[str] = "ready"
    versions: dict[str, Any]
    unavailable: dict[str, Any]
    builds: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None


@dataclass(frozen=True)
class Progress(CaseMessage):
    """A build's first call is done after ``seconds``: the rest runs under the steady-state limit."""

    type: ClassVar[str] = "progress"
    stage: str
    seconds: float


@dataclass(frozen=True)
class Built(CaseMessage):
    """A case is built and held: its calibration, and (first build) its first calls, memory and check."""

    type: ClassVar[str] = "built"
    number: int
    f_number: int
    per_call_s: float
    f_per_call_s: float
    build_s: float
    call: str | None = None
    colours: int | None = None  # sparse-jacobian: the compressed passes per call
    first_call_s: float | None = None
    first_call_cache: str | None = None  # cold, hit, partial or None: adbench.engine.record's first_call_cache
    f_first_call_s: float | None = None
    peak_memory_bytes: int | None = None
    memory_estimate_bytes: int | None = None
    n_outputs: int | None = None
    rel_error: float | None = None
    tolerance: float | None = None
    reference: str | None = None
    status: str | None = None  # "wrong" when the check failed
    error: str | None = None


@dataclass(frozen=True)
class Skipped(CaseMessage):
    type: ClassVar[str] = "skipped"
    reason: str
    memory_estimate_bytes: int | None = None


@dataclass(frozen=True)
class Sampled(CaseMessage):
    """One visit: the seconds per call of each sample of the operation and of f (the runner notes when)."""

    type: ClassVar[str] = "sampled"
    samples: list[float]
    f_samples: list[float]


@dataclass(frozen=True)
class Failed(CaseMessage):
    """The request raised in the worker: the case is an error (the worker is replaced after it)."""

    type: ClassVar[str] = "failed"
    error: str
    traceback: str | None = None


REQUESTS: dict[str, type[Message]] = {m.type: m for m in (Build, Visit, Forget)}
Request = Build | Visit | Forget  # what parse_request returns: one of REQUESTS' classes
ANSWERS: dict[str, type[Message]] = {m.type: m for m in (Ready, Progress, Built, Skipped, Sampled, Failed)}


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, infinities) in it replaced by None: they are not JSON (the
    protocol's lines and the results' sidecar alike)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def shown(value: Any, chars: int = 80) -> str:
    """A short, one-line, quoted rendering of what was received, for an error message."""
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return repr(text if len(text) <= chars else text[:chars] + "...")


def _valid(value: Any, hint: Any) -> bool:
    """Whether a decoded JSON value has the type a message field declares."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(_valid(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_valid(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return False


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type[Message]) -> dict[str, Any]:
    if cls not in _HINTS:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = {f.name: hints[f.name] for f in fields(cls)}
    return _HINTS[cls]


def parse(line: bytes | str, kinds: dict[str, type[Message]] = ANSWERS, error: type[Exception] = BadAnswer) -> Message:
    """The message on one line, validated: a known type, every required field, each of its declared
    type, nothing else. Anything else raises ``error`` naming what was wrong."""
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise error(
            f"worker sent an unreadable answer {shown(line)} (something in the case wrote to the worker's answer pipe)"
        ) from None
    if not isinstance(data, dict):
        raise error(f"worker sent {shown(data)}, not a message")
    cls = kinds.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise error(f"worker sent a message of unknown type {shown(data.get('type'))}; valid: {', '.join(kinds)}")
    hints = _hints(cls)
    values = {k: v for k, v in data.items() if k != "type"}
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise error(f"worker sent a {cls.type!r} message with unknown field(s) {', '.join(unknown)}: {shown(data)}")
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise error(f"worker sent a {cls.type!r} message without {', '.join(missing)}: {shown(data)}")
    for name, value in values.items():
        if not _valid(value, hints[name]):
            raise error(
                f"worker sent a {cls.type!r} message whose {name} is {shown(value, 40)}, not {_type_words(hints[name])}"
            )
    message = cls(**values)
    if isinstance(message, Sampled) and (
        not message.samples or any(s <= 0 for s in message.samples + message.f_samples)
    ):
        raise error(f"worker sent a visit without positive samples: {shown(data)}")
    return message


def parse_request(line: bytes | str) -> Request:
    """A request the worker was sent, validated the same way."""
    return typing.cast(Request, parse(line, REQUESTS, BadRequest))  # parse made one of REQUESTS' classes


_WORDS = {
    "int": "an integer",
    "float": "a finite number",
    "str": "a string",
    "bool": "a boolean",
    "NoneType": "null",
    "dict": "an object",
    "list": "a list",
}


def _type_words(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_words(h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        return f"a list of {_type_words(typing.get_args(hint)[0]).split(' ', 1)[1]}s"
    name = getattr(typing.get_origin(hint) or hint, "__name__", str(hint))
    return _WORDS.get(name, name)


__all__ = [
    "ANSWERS",
    "BadAnswer",
    "BadRequest",
    "Build",
    "CaseMessage",
    "Built",
    "Failed",
    "Forget",
    "Message",
    "Progress",
    "REQUESTS",
    "Request",
    "Ready",
    "Sampled",
    "Skipped",
    "Visit",
    "WorkerDied",
    "parse",
    "parse_request",
]
