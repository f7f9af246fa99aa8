"""The one interface every framework adapter implements, and the prepared case it returns."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args

import numpy as np

# AD_MODES, DIRECTED, EVERY_MODE, OPERATIONS and SECOND_ORDER are re-exported: others read them here.
from adbench.backends.modes import AD_MODES as AD_MODES
from adbench.backends.modes import (
    BY_NAME,
    COMPOSITIONS,
    NESTED,
    SPARSE,
    ModeName,
    Operation,
    counted,
    is_operation,
    passes,
)
from adbench.backends.modes import DIRECTED as DIRECTED
from adbench.backends.modes import EVERY_MODE as EVERY_MODE
from adbench.backends.modes import OPERATIONS as OPERATIONS
from adbench.backends.modes import SECOND_ORDER as SECOND_ORDER
from adbench.errors import UnknownChoiceError
from adbench.problems import Problem
from adbench.services import AD, DEFAULTS, Level, Service, requested
from adbench.xp import Array, Framework

# f as a backend hands it to a transform: of x alone (its constants bound), or of (x, constants) where a jit takes
# the constants as arguments (JAX, TensorFlow, MLX) rather than baking them into its program.
Function = Callable[[Array], Array]
FunctionOfConstants = Callable[[Array, dict[str, Array]], Array]
# A derivative's computation as a backend builds it: its arguments are the backend's own, (x, direction) or
# (x, direction, constants) or (x, constants) (each backend's ``derivative`` says which).
Computation = Callable[..., Array]
Sync = Callable[[Array], Any]  # blocks until an output is computed (PreparedCase.sync)

Dtype = Literal["float32", "float64"]
Device = Literal["cpu", "cuda"]
DTYPES: tuple[Dtype, ...] = get_args(Dtype)
DEVICES: tuple[Device, ...] = get_args(Device)


def as_dtype(name: str) -> Dtype:
    """``name`` as a Dtype, where a string from outside meets the typed engine; an unknown one is an error naming
    the dtypes."""
    if name not in DTYPES:
        raise UnknownChoiceError("dtype", name, DTYPES)
    return name


@dataclass
class PreparedCase:
    """Zero-argument callables with inputs already converted, ready to time.

    ``call`` computes the case's operation (a Jacobian, a JVP, an HVP...) and ``label`` says how, as
    the framework's users write it (``Backend.call_label``). ``sync(out)`` blocks until ``out`` is
    computed (JAX dispatches asynchronously, CUDA too); it is ``None`` where a call returns
    finished results, so the timer's loop stays as tight as timeit's. ``function`` is f's own call,
    ``None`` for a nested case (f differentiates inside itself: the call is f).
    """

    call: Callable[[], Array]
    function: Callable[[], Array] | None
    sync: Sync | None
    to_numpy: Callable[[Array], np.ndarray]
    # The timed call as the framework's users write it ("jax.jit(jax.grad(f))"): the record's `call`.
    label: str = ""
    # sparse-jacobian: the colours of the compression, i.e. the compressed passes one call makes.
    colours: int | None = None

    @classmethod
    def in_numpy(
        cls, call: Callable[[], np.ndarray], function: Callable[[], np.ndarray] | None, label: str
    ) -> PreparedCase:
        """A case whose calls return finished NumPy arrays (the NumPy baselines, autograd): nothing to sync or
        convert. ``function`` None: a nested case, whose call is f."""
        return cls(call=call, function=function, sync=None, to_numpy=np.asarray, label=label)

    def run(self) -> np.ndarray:
        out = self.call()
        if self.sync is not None:
            self.sync(out)
        return self.to_numpy(out)


@dataclass(frozen=True)
class Direction:
    """The vectors an operation contracts with: v (length n) for JVPs and HVPs, u (length m) for VJPs."""

    v: np.ndarray | None = None
    u: np.ndarray | None = None


class CaseArguments(NamedTuple):
    """One case as ``Backend.prepare`` receives it, handed to the backend's ``build`` in one piece (a tuple: a
    backend unpacks what it reads)."""

    problem: Problem
    x: np.ndarray
    operation: Operation
    mode: ModeName
    dtype: Dtype
    constants: dict[str, Any]
    direction: Direction
    chunk_size: int | None
    device: str


class Backend(ABC):
    """A way of computing derivatives: one framework (or baseline), its operations and modes.

    A backend owns everything about itself, display included, so adding one touches
    ``adbench/backends/`` only.
    """

    name: str
    framework: str  # the importable module whose version is reported
    description: str = ""
    # Display: the report, the tables and asv read these.
    label: str = ""
    colour: str = "#777777"
    order: int = 50  # frameworks first (low), baselines last
    baseline: bool = False
    default: bool = True  # in a plain `adbench compare`
    # operation -> the modes this backend offers for it.
    operations: Mapping[Operation, tuple[ModeName, ...]] = {"jacobian": AD_MODES}
    # True where Jacobians are built by vectorising JVPs/VJPs over a basis (jacfwd/jacrev);
    # False where passes run one after another. It decides the memory estimate.
    vectorized: bool = True
    chunkable: bool = False  # takes --chunk-size for Jacobians
    unchunked: str = "does not chunk (its passes are not vectorised)"  # why not, where it does not
    # Its first calls compile (a JIT): its builds are a run's longest, so where builds overlap its cases are
    # built (and visited) in two worker processes, split by operation (adbench.engine.runner).
    compiles: bool = False
    # Its first call runs as every later one does: nothing traced or compiled first (eager NumPy, HIPS autograd,
    # torch eager), so a long first call tells what the next costs and stands for its calibration
    # (adbench.engine.cases.first_build). Any JIT, eager JAX included (it compiles each primitive once): False.
    first_call_is_steady: bool = False
    # operation -> why this backend does not run it, where the reason is worth more than "offers no mode".
    # Keyed by str, not Operation, while callers look it up with the CLI's strings (adbench.api).
    refusals: Mapping[str, str] = {}
    devices: tuple[Device, ...] = ("cpu",)

    @property
    def modes(self) -> tuple[ModeName, ...]:
        """Every mode of every operation, in order (the Jacobian's first)."""
        return tuple(dict.fromkeys(m for ms in self.operations.values() for m in ms))

    def modes_for(self, operation: str) -> tuple[ModeName, ...]:
        """The modes this backend offers for ``operation`` (none for a name that is no operation)."""
        return tuple(self.operations.get(operation, ())) if is_operation(operation) else ()

    @property
    def display_label(self) -> str:
        return self.label or self.name

    @abstractmethod
    def load(self, threads: int | None = None) -> Framework:
        """Import the framework (configuring its threads) and return the module."""

    def version(self) -> str:
        return str(getattr(self.load(), "__version__", "unknown"))

    def compile_cache_counts(self) -> tuple[int, int] | None:
        """(hits, misses) of the framework's persistent compile cache so far in this process, to label a first
        call cold or a cache hit (``first_call_cache``); None where there is no such cache to observe."""
        return None

    def preload(self) -> None:  # noqa: B027 (a hook, not abstract: most backends have nothing to preload)
        """Import what the framework would otherwise import lazily inside a first call, so a
        worker's (and an asv process's) first calls time the case, not the framework's imports."""

    def services(self) -> dict[str, Service]:
        """This framework's implementation of each service a problem may ask for by parameter name
        (``adbench.services``: ``loop``): the plain-Python defaults unless the backend overrides them."""
        return dict(DEFAULTS)

    def bound(self, problem: Problem, mode: str | None = None) -> Callable[..., Any]:
        """The problem's ``f(x, xp, **constants)`` with this backend's services passed where it asks for them;
        for a nested case (``mode`` a composition) the ``ad`` service of that composition."""
        services = self.services()
        if mode in COMPOSITIONS and "ad" in requested(problem.function):
            services["ad"] = self.ad(mode)
        return bind_services(problem.function, services)

    def ad(self, mode: str) -> AD:
        """The ``ad`` service for a composition: ``forward-over-reverse`` has a forward outer level over a
        reverse inner one."""
        outer, inner = mode.split("-over-")
        return AD(self.ad_level(outer), self.ad_level(inner))

    def ad_level(self, mode: str) -> Level:
        """One level of the ``ad`` service in ``mode`` (forward or reverse): the backends with nested
        differentiation implement it."""
        raise NotImplementedError(f"backend {self.name!r} has no nested differentiation")

    def call_label(self, operation: Operation, mode: ModeName, scalar: bool, chunk_size: int | None = None) -> str:
        """The call ``prepare`` times, as the framework's users write it (``jax.jit(jax.grad(f))``): the
        record's ``call`` and the asv suite's docstrings. ``scalar``: f returns a scalar (its reverse-mode
        Jacobian is then a gradient). Static: it imports no framework. Every backend names every
        operation and mode it offers (tests/test_backends.py checks)."""
        return ""

    def prepare(
        self,
        problem: Problem,
        x: np.ndarray,
        operation: Operation,
        mode: ModeName,
        dtype: Dtype,
        constants: dict[str, Any],
        direction: Direction = Direction(),
        *,
        chunk_size: int | None = None,
        device: str = "cpu",
    ) -> PreparedCase:
        """Build the operation's and f's callables for one case (nothing is timed here): the backend's ``build``
        of the arguments in one piece, so their types are written once, here."""
        return self.build(CaseArguments(problem, x, operation, mode, dtype, constants, direction, chunk_size, device))

    def build(self, case: CaseArguments) -> PreparedCase:
        """What ``prepare`` returns, built by this backend from the case's arguments (every backend here
        implements it; one that overrides ``prepare`` itself need not)."""
        raise NotImplementedError(f"backend {self.name!r} builds no case")

    def build_info(self) -> dict[str, Any]:
        """What the framework was built for and sees (CUDA version, devices), for the environment record."""
        return {}

    def device_peak(self, device: str) -> Callable[[], int | None] | None:
        """On a GPU: start counting the framework's own peak allocation, and return what reads it
        (bytes above the level at the start). None on the CPU, where the worker's VmHWM counts."""
        return None

    def supports(
        self,
        problem: Problem,
        operation: Operation,
        mode: ModeName,
        n: int | None = None,
        chunk_size: int | None = None,
        device: str = "cpu",
    ) -> str | None:
        """``None`` when the case can run, else the reason it is skipped.

        ``n`` is given where the answer may depend on f's output at that size (a user function
        whose output is scalar or not); shape questions are left out without it.
        """
        if problem.nested and operation != NESTED:
            return (
                f"{problem.name!r} differentiates inside itself (it asks for the ad service): its operation "
                f"is nested, not {operation}"
            )
        if operation == NESTED and not problem.nested:
            return (
                f"nested evaluates a function that differentiates inside itself (asks for the ad service); "
                f"{problem.name!r} does not"
            )
        if operation in self.refusals:
            return f"backend {self.name!r} does not run {operation}: {self.refusals[operation]}"
        if mode not in self.modes_for(operation):
            offered = ", ".join(self.modes_for(operation)) or "none"
            return f"backend {self.name!r} offers no {mode!r} {operation}; it offers: {offered}"
        if n is not None and (reason := needs_scalar(problem, operation, n)):
            return reason
        if operation == SPARSE and problem.sparsity is None:
            return (
                f"problem {problem.name!r} declares no sparsity pattern (a user's function passes one: "
                f"problem_from_function(f, sparsity=...))"
            )
        if chunk_size is not None:
            if not self.chunkable:
                return f"backend {self.name!r} {self.unchunked}"
            if operation != "jacobian":
                return f"--chunk-size applies to dense Jacobians, not to {operation}"
        if device not in self.devices:
            return f"backend {self.name!r} runs on {', '.join(self.devices)} only, not {device}"
        return self.lacks(problem, operation)

    def lacks(self, problem: Problem, operation: Operation) -> str | None:
        """What the problem lacks for this backend to run ``operation`` on it, asked last by ``supports`` (the
        baselines need a hand-written derivative); None: nothing."""
        return None

    def memory_estimate(
        self,
        n: int,
        m: int,
        work: int,
        itemsize: int,
        operation: Operation,
        mode: ModeName,
        chunk_size: int | None = None,
        colours: int | None = None,
    ) -> int:
        """Rough peak bytes of one evaluation of the operation, to skip cases that would not fit.

        ``work`` is the element count of f's largest intermediate. A vectorised pass carries
        one copy of every intermediate per basis vector (n for forward, m for reverse; the chunk
        size when chunked), and about four are alive at once.
        """
        one_pass = work + n + m
        if operation == SPARSE:
            # p compressed passes (the colours; n or m if unknown): a vectorised backend carries p copies of
            # every intermediate, and the compressed (p, m) or (p, n) result; the nonzeros are at most that.
            p = colours or (n if mode == "forward" else m)
            compressed = p * (m if mode == "forward" else n)
            copies = p if self.vectorized else 2
            return itemsize * 4 * (compressed + copies * one_pass)
        out = {"jacobian": n * m, "jvp": m, "vjp": n, "hvp": n, "hessian": n * n, NESTED: m}[operation]
        if operation == NESTED:
            copies = 4  # f's own taped intermediates (work), with a tangent or cotangent of each
        elif operation in ("jvp", "vjp"):
            copies = 2
        elif not self.vectorized:
            copies = 2 if operation == "jacobian" else 4  # passes run one after another
        else:
            # One copy per pass carried at once (modes.passes): n for forward, m for reverse (the chunk size
            # when chunked); an HVP's one pass over a pass keeps about four, forward-over-forward's n JVPs n.
            # A Hessian over a reverse inner pass carries n copies of it and its tape; over a forward one
            # (n tangents) n x n.
            copies = passes(operation, mode, n, m) or 1
            if operation == "jacobian":
                copies = min(copies, chunk_size) if chunk_size else copies
            elif operation == "hvp" and "n" not in (counted(operation, mode) or ()):
                copies = 4
            elif BY_NAME[mode].levels[-1] == "reverse":
                copies *= 2
        return itemsize * 4 * (out + copies * one_pass)


def needs_scalar(problem: Problem, operation: str, n: int) -> str | None:
    """Why ``operation`` cannot run on ``problem`` at size n: second order needs a scalar output (None: it can)."""
    if operation in SECOND_ORDER and not problem.is_scalar(n):
        return f"{operation} needs a scalar-valued problem; {problem.name!r} returns a vector"
    return None


def installed_version(module: str) -> tuple[str | None, str | None]:
    """(version, None) for an installed top-level ``module``, from its package metadata, without importing it;
    (None, reason) where it is not installed. The distribution may be named otherwise (tensorflow-cpu
    installs ``tensorflow``): then the ``*.dist-info`` beside the module says."""
    import importlib.util
    from importlib import metadata
    from pathlib import Path

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if spec is None:
        return None, f"ModuleNotFoundError: No module named {module!r}"
    try:
        return metadata.version(module), None
    except metadata.PackageNotFoundError:
        pass
    roots = list(spec.submodule_search_locations or []) or ([str(Path(spec.origin).parent)] if spec.origin else [])
    for root in roots:
        for info in sorted(Path(root).parent.glob(f"{module}*.dist-info")):
            return metadata.Distribution.at(info).version, None
    return "unknown", None


def bind_services(function: Callable[..., Any], services: Mapping[str, Service]) -> Callable[..., Any]:
    """``function`` with each service it asks for (a parameter named ``loop``, say) passed by keyword from
    ``services``: the one place where what a problem asks for meets what a backend offers."""
    wanted = requested(function)
    if not wanted:
        return function
    return functools.partial(function, **{name: services[name] for name in wanted})


def float_dtype(array: np.ndarray, dtype: str) -> str | np.dtype:
    """The run's float dtype for float arrays; integer and boolean arrays keep theirs."""
    return dtype if array.dtype.kind in "fc" else array.dtype


def basis(n: int, dtype: str) -> np.ndarray:
    """The n unit vectors, as rows: the tangents of forward mode, built once, outside any timing."""
    return np.eye(n, dtype=dtype)
