"""The Problem record: one function to differentiate, its sizes, inputs, constants and references."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adbench.errors import UnknownChoiceError

Function = Callable[..., Any]
# A user's constants: a mapping, or ``constants(n, seed)`` returning one.
ConstantsSource = Mapping[str, Any] | Callable[[int, int], Mapping[str, Any]] | None


def _default_input(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def _no_constants(x: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    return {}


def _one_output(n: int) -> int:
    return 1


@dataclass(frozen=True)
class Problem:
    """One function to differentiate, with everything needed to run and check it at any size.

    ``function(x, xp, **constants)`` is the math, written once against ``xp``, a namespace of
    the Python array API standard. Array constants reach it converted to the backend's arrays;
    plain Python numbers (a loop count, a step count) stay Python numbers, so JIT backends
    treat them as static.
    """

    name: str
    function: Function
    description: str
    # m for n inputs; left out for a scalar_output problem, whose m is 1.
    output_size: Callable[[int], int] | None = None
    scalar_output: bool = False  # f returns a 0-d array (its Jacobian is a gradient)
    sizes: tuple[int, ...] = (10, 100, 1000)  # the whole sweep: `compare --full`, asv
    quick_sizes: tuple[int, ...] = (10, 100)  # `compare --quick`
    default_sizes: tuple[int, ...] | None = None  # plain `compare`; None: ``sizes``
    # False: left out of a plain (and --quick) `compare`, whose minute it would not fit; run by name or
    # with --full (at ``run_sizes`` when named).
    plain_run: bool = True
    # n -> what that size means ("D=2,K=5"). A problem with presets takes those sizes only.
    presets: Mapping[int, str] = field(default_factory=dict)
    make_input: Callable[[int, np.random.Generator], np.ndarray] = _default_input
    # (x, rng) -> the constants; (x, rng, seed) where constants_take_seed (a user's constants(n, seed)).
    make_constants: Callable[..., dict[str, Any]] = _no_constants
    # Axes of array constants that may differ from the generated ones when a caller overrides
    # them (gmm's data may have any number of points N: {"data": (0,)}); all others must match.
    variable_axes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # A problem with presets whose shape the caller's constants can define instead (gmm: D from
    # `data`, then K from len(x)): the constants that define it, and custom_constants(x, given),
    # which returns every constant from the given ones (defaults for the rest) or raises a
    # ValueError naming the constant that does not fit len(x). Used when the caller gives all
    # of shape_constants, and required at a size that is not a preset.
    shape_constants: tuple[str, ...] = ()
    custom_constants: Callable[[np.ndarray, Mapping[str, Any]], dict[str, Any]] | None = None
    manual_jacobian: Callable[..., np.ndarray] | None = None
    # Scalar problems: the closed-form Hessian (n x n, float64), where there is one, and its
    # product with a vector without forming it (manual_hvp(x, v, **constants)), where cheaper.
    manual_hessian: Callable[..., np.ndarray] | None = None
    manual_hvp: Callable[..., np.ndarray] | None = None
    # -- sparse Jacobians (the sparse-jacobian operation) --
    # The declared pattern: sparsity(n, **constants) -> an m x n SciPy sparse matrix or boolean array whose
    # nonzeros cover every entry of J that can be nonzero (see adbench.sparsity).
    sparsity: Callable[..., Any] | None = None
    # The hand-written sparse Jacobian: its values (x, **constants) in the order of its own
    # manual_sparse_structure(n, **constants) -> (rows, cols), independent of the declared pattern.
    manual_sparse_jacobian: Callable[..., np.ndarray] | None = None
    manual_sparse_structure: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None
    # A float64 reference Jacobian that is not hand-written (ht: complex-step), as a SciPy sparse matrix; the
    # correctness gate's reference where the problem has no manual Jacobian. The manual baseline never runs it.
    reference_sparse: Callable[..., Any] | None = None
    # n -> the v of the problem's HVP cases, where one v means something (kmeans: ones, and since its H
    # is diagonal, H v is that diagonal); None: a standard normal v, like every JVP's.
    hvp_vector: Callable[[int], np.ndarray] | None = None
    # A function that differentiates inside itself (it asks for the ``ad`` service): the whole
    # computation with its derivatives written out, manual_nested(x, **constants). It is the float64
    # reference of the ``nested`` operation and the ``manual`` baseline's floor.
    manual_nested: Callable[..., np.ndarray] | None = None
    # Elements in the largest intermediate of one evaluation; drives the memory estimate.
    work_size: Callable[[int], int] = lambda n: n
    theory: str = ""
    # c in cost(f) ~ n^c: the theory's scaling slopes (forward n^(1+c), reverse m n^c) need it, and
    # measured f times cannot give it at these sizes, where they are per-call overhead.
    cost_exponent: float | None = None
    builtin: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)
    # True for a user's constants(n, seed): make_constants is then called with the seed too.
    constants_take_seed: bool = False
    # User functions: the output shape at n, found by evaluating f (None for registered problems).
    probe_shape: Callable[[int], tuple[int, ...]] | None = None

    def __post_init__(self) -> None:
        if self.output_size is None:
            if not self.scalar_output:
                raise ValueError(f"problem {self.name!r}: output_size is needed unless scalar_output is set")
            object.__setattr__(self, "output_size", _one_output)
        if (self.manual_sparse_jacobian is None) != (self.manual_sparse_structure is None):
            raise ValueError(
                f"problem {self.name!r}: manual_sparse_jacobian and manual_sparse_structure come together "
                "(the values and the structure they are in)"
            )

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def takes_any_size(self) -> bool:
        return not self.presets

    @property
    def run_sizes(self) -> tuple[int, ...]:
        """The sizes a plain ``compare`` runs."""
        return self.default_sizes or self.sizes

    def size_label(self, n: int) -> str:
        """``n = 1000``, or the preset's meaning: ``D=2,K=5 (n = 30)``."""
        return f"{self.presets[n]} (n = {n})" if n in self.presets else f"n = {n}"

    def check_size(self, n: int, custom: bool = False) -> None:
        """A valid size: any positive n, or a preset's. ``custom``: also any n whose shape the caller's
        constants may define (``shape_constants``; ``constants()`` then checks that they do)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"size must be a positive integer, not {n!r}")
        if self.presets and n not in self.presets and not (custom and self.custom_constants):
            raise ValueError(
                f"problem {self.name!r} takes the sizes of its presets only, not {n}; "
                f"valid choices: {self._preset_choices()}"
            )

    def requested_sizes(self, sizes: tuple[int, ...] | list[int]) -> tuple[int, ...]:
        """``sizes`` as asked (``compare --sizes``): any for a problem that takes any n; for one with presets,
        presets only, else a ValueError naming the valid ones (never another size instead)."""
        for n in sizes:
            try:
                self.check_size(n)
            except ValueError as exc:
                extra = " (or its shape from a file: --constants FILE)" if self.custom_constants else ""
                raise ValueError(f"{exc}{extra}") from None
        return tuple(sizes)

    def _preset_choices(self) -> str:
        return ", ".join(f"{k} ({v})" for k, v in self.presets.items())

    # -- inputs -------------------------------------------------------------------------------
    def _rng(self, seed: int, stream: int) -> np.random.Generator:
        # Independent, reproducible streams per (problem, seed, purpose); crc32 is stable across
        # runs, unlike hash().
        return np.random.default_rng([seed, zlib.crc32(self.name.encode()), stream])

    def inputs(self, n: int, seed: int = 0) -> np.ndarray:
        """The deterministic float64 input of size ``n``: the same numbers for every backend."""
        self.check_size(n)
        return np.asarray(self.make_input(n, self._rng(seed, 0)), dtype=np.float64)

    def constants(self, x: np.ndarray, seed: int = 0, **overrides: Any) -> dict[str, Any]:
        """The constants for input ``x``, by name; ``overrides`` replace any of them.

        An override must look like the constant it replaces (same shape for an array, a
        number for a number): a wrong one is a ValueError naming the constant, not an error
        from deep inside a framework.
        """
        x = np.asarray(x, dtype=np.float64)
        if self.custom_constants and (x.shape[0] not in self.presets or set(self.shape_constants) <= set(overrides)):
            return self._custom(x, overrides)
        rng = self._rng(seed, 1)
        made = self.make_constants(x, rng, seed) if self.constants_take_seed else self.make_constants(x, rng)
        unknown = set(overrides) - set(made)
        if unknown:
            raise UnknownChoiceError(f"constant of problem {self.name!r}", sorted(unknown)[0], made)
        for key, value in overrides.items():
            made[key] = _checked_constant(self.name, key, value, made[key], len(x), self.variable_axes.get(key, ()))
        return made

    def _custom(self, x: np.ndarray, given: Mapping[str, Any]) -> dict[str, Any]:
        """The constants of a shape the caller's define (``custom_constants``), checked by name."""
        missing = [k for k in self.shape_constants if k not in given]
        if missing:
            needs = " and ".join(repr(k) for k in self.shape_constants)
            raise ValueError(
                f"problem {self.name!r} at n = {len(x)}, which is not one of its presets "
                f"({self._preset_choices()}), needs the constant {missing[0]!r} to define its shape: "
                f"give {needs}"
            )
        for key, value in given.items():
            if np.iscomplexobj(value):
                raise ValueError(f"constant {key!r} of problem {self.name!r} must be real, not complex")
        assert self.custom_constants is not None, "constants() calls _custom only for a problem with custom_constants"
        made = self.custom_constants(x, given)
        unknown = set(given) - set(made)
        if unknown:
            raise UnknownChoiceError(f"constant of problem {self.name!r}", sorted(unknown)[0], made)
        return made

    def check_input(self, x: np.ndarray) -> None:
        if np.iscomplexobj(x):
            raise ValueError(f"problem {self.name!r} takes a real input vector; got complex values (dtype {x.dtype})")
        if x.ndim != 1:
            raise ValueError(f"problem {self.name!r} takes a 1-D input vector; got an array of shape {x.shape}")
        self.check_size(x.shape[0], custom=True)

    # -- shapes ---------------------------------------------------------------------------------
    @property
    def nested(self) -> bool:
        """True when f differentiates inside itself (asks for ``ad``): its one operation is ``nested``."""
        from adbench.services import requested

        return "ad" in requested(self.function)

    def is_scalar(self, n: int) -> bool:
        """True when f returns a scalar at size ``n``."""
        return self.probe_shape(n) == () if self.probe_shape else self.scalar_output

    def n_outputs(self, n: int) -> int:
        assert self.output_size is not None, "__post_init__ sets output_size"
        return self.output_size(n)

    def known_n_outputs(self, n: int) -> int | None:
        """m without evaluating f: known for registered problems, None for a user's until run."""
        return None if self.probe_shape else self.n_outputs(n)

    # -- the golden references ------------------------------------------------------------------
    def reference_jacobian(self, x: np.ndarray, **constants: Any) -> np.ndarray | None:
        """The hand-written Jacobian in float64 (else the problem's non-AD sparse reference, densified), or
        ``None`` where the problem has neither."""
        if self.manual_jacobian is None:
            sparse = self.reference_sparse_jacobian(x, **constants)
            return None if sparse is None else np.asarray(sparse.toarray(), dtype=np.float64)
        x, consts = _float64(x, constants)
        return np.asarray(self.manual_jacobian(x, **consts), dtype=np.float64)

    def reference_sparse_jacobian(self, x: np.ndarray, **constants: Any) -> Any:
        """The float64 reference as a SciPy CSR matrix, built without the declared pattern: the hand-written
        sparse Jacobian on its own structure, else ``reference_sparse``; ``None`` where there is neither."""
        x, consts = _float64(x, constants)
        if self.manual_sparse_jacobian is not None and self.manual_sparse_structure is not None:
            import scipy.sparse

            rows, cols = self.manual_sparse_structure(x.shape[0], **consts)
            values = np.asarray(self.manual_sparse_jacobian(x, **consts), dtype=np.float64)
            shape = (self.n_outputs(x.shape[0]), x.shape[0])
            return scipy.sparse.csr_matrix((values, (rows, cols)), shape=shape)
        if self.reference_sparse is not None:
            return self.reference_sparse(x, **consts).tocsr()
        return None

    def reference_hvp(self, x: np.ndarray, v: np.ndarray, **constants: Any) -> np.ndarray | None:
        """H v in float64 from the closed form: without forming H where the problem says how."""
        x, consts = _float64(x, constants)
        v = np.asarray(v, np.float64)
        if self.manual_hvp is not None:
            return np.asarray(self.manual_hvp(x, v, **consts), dtype=np.float64)
        H = self.reference_hessian(x, **constants)
        return None if H is None else H @ v

    def reference_nested(self, x: np.ndarray, **constants: Any) -> np.ndarray | None:
        """The nested computation's result in float64 with hand-written derivatives, or ``None``."""
        if self.manual_nested is None:
            return None
        x, consts = _float64(x, constants)
        return np.asarray(self.manual_nested(x, **consts), dtype=np.float64)

    def reference_hessian(self, x: np.ndarray, **constants: Any) -> np.ndarray | None:
        """The closed-form Hessian in float64, or ``None`` where the problem has none."""
        if self.manual_hessian is None:
            return None
        x, consts = _float64(x, constants)
        return np.asarray(self.manual_hessian(x, **consts), dtype=np.float64)


def _float64(x: np.ndarray, constants: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    x = np.asarray(x, dtype=np.float64)
    consts = {
        k: (np.asarray(v, np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
        for k, v in constants.items()
    }
    return x, consts


def _checked_constant(problem: str, key: str, value: Any, default: Any, n: int, free: tuple[int, ...]) -> Any:
    if isinstance(default, np.ndarray):
        arr = np.asarray(value)
        if np.iscomplexobj(arr):
            raise ValueError(f"constant {key!r} of problem {problem!r} must be real, not complex")
        fixed = [i for i in range(default.ndim) if i not in free]
        if arr.ndim != default.ndim or any(arr.shape[i] != default.shape[i] for i in fixed):
            raise ValueError(
                f"constant {key!r} of problem {problem!r} must have shape {default.shape} "
                f"for an input of size {n}, not {arr.shape}"
            )
        return arr.astype(default.dtype) if default.dtype.kind == "f" else arr
    if isinstance(default, (int, float)) and not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"constant {key!r} of problem {problem!r} must be a number, not {type(value).__name__}")
    return value
