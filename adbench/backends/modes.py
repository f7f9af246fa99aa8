"""The vocabulary of operations and modes, as types (``Operation``, ``ModeName``, ``Pass``) and constants, and
the one table of modes: their names, the order every table and figure shows them in, how a figure draws
each, which are the baselines', and the passes each makes per operation (what counting passes predicts).

The CLI's tables (``adbench.rendering``), the report (``adbench.report``), the backends and the memory
estimate read it here; nothing else spells a mode's order, style or pass count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard, get_args

from adbench.errors import UnknownChoiceError

# The vocabulary as types: a string mypy knows to be one of these where it is annotated so. Literal strings, not
# enums: they travel as they are through the CSV, the JSON sidecar, pandas and the CLI. Each constant below is
# read off its type, so a name is written once.
Operation = Literal["jacobian", "jvp", "vjp", "hvp", "hessian", "sparse-jacobian", "nested"]
ModeName = Literal[
    "forward",
    "reverse",
    "forward-over-reverse",
    "reverse-over-reverse",
    "reverse-over-forward",
    "forward-over-forward",
    "central",
    "manual",
]
Pass = Literal["forward", "reverse"]  # one AD level of a mode: a JVP or a VJP
OPERATIONS: tuple[Operation, ...] = get_args(Operation)
SECOND_ORDER: tuple[Operation, ...] = ("hvp", "hessian")
DIRECTED: tuple[Operation, ...] = ("jvp", "vjp", "hvp")  # the operations that contract with a vector (v or u)
PASS_NAMES: tuple[Pass, ...] = get_args(Pass)

# The operations whose modes differ from the others'.
SPARSE: Literal["sparse-jacobian"] = "sparse-jacobian"  # J as a SciPy matrix from compressed passes, one per colour
# nested: evaluate a function that differentiates inside itself (it asks for the ``ad`` service), its
# mode the composition of the levels it is handed (outer over inner); its result is the function's own.
NESTED: Literal["nested"] = "nested"


def is_operation(name: str) -> TypeGuard[Operation]:
    """Whether ``name`` is an operation: narrows a string read from outside (the CLI, a result set)."""
    return name in OPERATIONS


def is_mode(name: str) -> TypeGuard[ModeName]:
    """Whether ``name`` is a mode this adbench knows (a set from elsewhere may hold others)."""
    return name in BY_NAME


def as_operation(name: str) -> Operation:
    """``name`` as an Operation, where a string from outside (the CLI, a caller) meets the typed engine; an
    unknown one is an error naming the operations."""
    if not is_operation(name):
        raise UnknownChoiceError("operation", name, OPERATIONS)
    return name


def as_mode(name: str) -> ModeName:
    """``name`` as a ModeName, where a string from outside meets the typed engine; an unknown one is an error
    naming the modes."""
    if not is_mode(name):
        raise UnknownChoiceError("mode", name, MODE_NAMES)
    return name


@dataclass(frozen=True)
class Mode:
    """One mode. ``levels``: the AD passes it composes, outer first (``forward-over-reverse`` is a JVP of the
    gradient: forward over reverse); none for a baseline's mode, which differentiates by other means.
    ``linestyle`` and ``marker``: a figure tells modes apart by both, so they read without colour."""

    name: ModeName
    levels: tuple[Pass, ...]
    linestyle: Any  # a matplotlib line style: a name ("-") or a dash pattern ((offset, (on, off, ...)))
    marker: str

    @property
    def baseline(self) -> bool:
        return not self.levels

    @property
    def style(self) -> dict[str, Any]:
        return {"linestyle": self.linestyle, "marker": self.marker}


# The display order: first order (forward before reverse, as jacfwd before jacrev), the compositions, then
# the baselines' modes (central before manual, as their backends: the hand-written floor comes last).
MODES: tuple[Mode, ...] = (
    Mode("forward", ("forward",), (0, (5, 2.5)), "s"),
    Mode("reverse", ("reverse",), "-", "o"),
    Mode("forward-over-reverse", ("forward", "reverse"), (0, (5, 2.5)), "^"),
    Mode("reverse-over-reverse", ("reverse", "reverse"), "-", "v"),
    Mode("reverse-over-forward", ("reverse", "forward"), (0, (6, 2, 1.5, 2)), "<"),
    Mode("forward-over-forward", ("forward", "forward"), (0, (1.5, 1.5)), ">"),
    Mode("central", (), (0, (1, 1.6)), "h"),  # central differences (the finite-diff backend)
    Mode("manual", (), "-", "D"),  # the hand-written derivative (the manual backend)
)
BY_NAME: dict[str, Mode] = {m.name: m for m in MODES}
MODE_NAMES: tuple[ModeName, ...] = tuple(m.name for m in MODES)
AD_MODES: tuple[ModeName, ...] = tuple(m.name for m in MODES if len(m.levels) == 1)
# "outer-over-inner": forward-over-reverse is a JVP of the gradient (jacfwd(jacrev(f)) for H).
COMPOSITIONS: tuple[ModeName, ...] = tuple(m.name for m in MODES if len(m.levels) == 2)
BASELINE_MODES: tuple[ModeName, ...] = tuple(m.name for m in MODES if m.baseline)
OTHER_STYLE = {"linestyle": "-.", "marker": "P"}  # a mode this adbench does not know (a set from elsewhere)

# What a framework with forward and reverse mode offers: every operation, every composition.
EVERY_MODE: dict[Operation, tuple[ModeName, ...]] = {
    "jacobian": AD_MODES,
    "jvp": ("forward",),
    "vjp": ("reverse",),
    "hvp": COMPOSITIONS,
    "hessian": COMPOSITIONS,
    SPARSE: AD_MODES,
    NESTED: COMPOSITIONS,
}


def every_mode_but(*refused: Operation) -> dict[Operation, tuple[ModeName, ...]]:
    """EVERY_MODE without the ``refused`` operations: a framework with both modes whose compiler cannot trace
    some (its ``refusals`` say why)."""
    return {op: modes for op, modes in EVERY_MODE.items() if op not in refused}


def mode_rank(mode: str) -> int:
    """A mode's place in the display order; one this adbench does not know comes after every known one."""
    return MODE_NAMES.index(mode) if mode in BY_NAME else len(MODE_NAMES)


def mode_order(modes: Iterable[str]) -> list[str]:
    """``modes`` once each, in the display order (unknown ones last, as given): the CLI's columns and the
    report's series alike."""
    return sorted(dict.fromkeys(modes), key=mode_rank)


def mode_style(mode: str) -> dict[str, Any]:
    """The figure's line style and marker of a mode."""
    known = BY_NAME.get(mode)
    return known.style if known is not None else dict(OTHER_STYLE)


def is_baseline_mode(mode: str) -> bool:
    return mode in BASELINE_MODES


# -- pass counts ----------------------------------------------------------------------------------------
# The passes one call makes at each level, outer first, in n (inputs), m (outputs), p (the colours of a
# compressed Jacobian) or 1; a product of them is the call's pass count. A second-order case's f is scalar:
# its inner reverse level is one VJP (the gradient), its inner forward level n JVPs (the gradient from the n
# unit vectors) or, for an HVP, one JVP along v. Central differences count evaluations of f (2 per column).
Count = Literal["1", "n", "2n", "m", "p"]  # one level's passes
PASSES: dict[tuple[Operation, ModeName], tuple[Count, ...]] = {
    ("jacobian", "forward"): ("n",),
    ("jacobian", "reverse"): ("m",),
    ("jacobian", "central"): ("2n",),
    ("jvp", "forward"): ("1",),
    ("vjp", "reverse"): ("1",),
    (SPARSE, "forward"): ("p",),
    (SPARSE, "reverse"): ("p",),
    ("hvp", "forward-over-reverse"): ("1", "1"),  # a JVP of the gradient along v
    ("hvp", "reverse-over-reverse"): ("1", "1"),  # a VJP of the gradient with v (H is symmetric)
    ("hvp", "reverse-over-forward"): ("1", "1"),  # the gradient of the JVP along v
    ("hvp", "forward-over-forward"): ("n", "1"),  # H v one entry at a time: n JVPs of the JVP along v
    ("hessian", "forward-over-reverse"): ("n", "1"),
    ("hessian", "reverse-over-reverse"): ("n", "1"),
    ("hessian", "reverse-over-forward"): ("n", "n"),
    ("hessian", "forward-over-forward"): ("n", "n"),
}


def counted(operation: str, mode: str) -> tuple[Count, ...] | None:
    """The passes of each level of ``operation`` in ``mode`` (None: not counted, or not a known pair)."""
    return PASSES.get((operation, mode)) if is_operation(operation) and is_mode(mode) else None


def passes(operation: str, mode: str, n: int, m: int = 1, colours: int | None = None) -> int | None:
    """The passes one call of ``operation`` in ``mode`` makes at n inputs and m outputs (None: not counted)."""
    counts = counted(operation, mode)
    if counts is None or ("p" in counts and colours is None):
        return None
    value = {"1": 1, "n": n, "2n": 2 * n, "m": m}
    if colours is not None:
        value["p"] = colours
    total = 1
    for c in counts:
        total *= value[c]
    return total


def pass_exponent(operation: str, mode: str, m_exponent: float) -> float | None:
    """d log(passes) / d log n, where m grows as n^m_exponent (None: not counted, or counted in colours)."""
    counts = counted(operation, mode)
    if counts is None or "p" in counts:
        return None
    return sum({"1": 0.0, "n": 1.0, "2n": 1.0, "m": m_exponent}[c] for c in counts)


def forward_over_basis(operation: str, mode: str) -> bool:
    """Whether a level of the call runs forward over the n unit vectors (the basis a backend without
    vectorised passes builds once, outside the timing)."""
    counts = counted(operation, mode)
    return any(level == "forward" and c == "n" for level, c in zip(BY_NAME[mode].levels, counts)) if counts else False


__all__ = [
    "AD_MODES",
    "BASELINE_MODES",
    "BY_NAME",
    "COMPOSITIONS",
    "DIRECTED",
    "EVERY_MODE",
    "MODES",
    "MODE_NAMES",
    "NESTED",
    "OPERATIONS",
    "PASSES",
    "PASS_NAMES",
    "SECOND_ORDER",
    "SPARSE",
    "Count",
    "Mode",
    "ModeName",
    "Operation",
    "Pass",
    "as_mode",
    "as_operation",
    "counted",
    "every_mode_but",
    "forward_over_basis",
    "is_baseline_mode",
    "is_mode",
    "is_operation",
    "mode_order",
    "mode_rank",
    "mode_style",
    "pass_exponent",
    "passes",
]
