"""The Problem record, the registry and the wrapper that turns a user's ``f(x, xp, **constants)`` into a problem."""

from __future__ import annotations

import functools
import inspect
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


_REGISTRY: dict[str, Problem] = {}


def register(problem: Problem) -> Problem:
    """Add a problem to the registry under its name (replacing one of the same name)."""
    _REGISTRY[problem.name] = problem
    return problem


def list_problems() -> list[Problem]:
    """The registered problems, in registration order."""
    return list(_REGISTRY.values())


# Who reads NAME@FILE: adbench.problems.inputs, which builds on this registry, registers itself here when the
# package is imported, so that the registry imports none of the modules built on it (no import circle).
_AT_FILE: list[Callable[[str, str], Problem]] = []


def resolve_at_file(reader: Callable[[str, str], Problem]) -> Callable[[str, str], Problem]:
    """Register ``reader(name, path)`` as the reader of NAME@FILE names (one reader: the last registered)."""
    _AT_FILE[:] = [reader]
    return reader


def get_problem(problem: str | Problem | Function) -> Problem:
    """A registered problem by name, a Problem as is, or a user's ``f(x, xp)`` (or ``MODULE:FUNCTION``) wrapped."""
    if isinstance(problem, Problem):
        return problem
    if callable(problem):
        return problem_from_function(problem)
    try:
        return _REGISTRY[problem]
    except (KeyError, TypeError):
        pass
    if isinstance(problem, str) and "@" in problem and problem.partition("@")[0] in _REGISTRY and _AT_FILE:
        # NAME@FILE: the registered problem at the one instance in FILE (compare --constants FILE).
        return _AT_FILE[0](*problem.split("@", 1))
    if isinstance(problem, str) and ":" in problem:
        # A user's MODULE:FUNCTION; worker processes rebuild user problems from this name.
        f, constants = import_function(problem)
        return problem_from_function(f, name=problem, constants=constants, sparsity=module_sparsity(problem))
    raise UnknownChoiceError("problem", problem, _REGISTRY)


def _accepted_constants(f: Function, names: list[str]) -> list[str]:
    """The constants ``f`` takes by keyword: all with ``**kwargs``, else the named ones."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return names
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return names
    accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return [k for k in names if k in accepted]


def problem_from_function(
    f: Function,
    name: str | None = None,
    *,
    sizes: tuple[int, ...] = (10, 100, 1000),
    constants: ConstantsSource = None,
    sparsity: Any = None,
) -> Problem:
    """Wrap a user's ``f(x, xp, **constants)`` as a Problem.

    ``f`` may use anything in the Python array API standard on ``xp`` and must return a scalar
    or a 1-D vector. ``constants`` (a mapping, or ``constants(n, seed)`` returning one) are its
    data: NumPy arrays reach every backend as that backend's arrays of the run's dtype, Python
    numbers stay static. The output shape is found by evaluating ``f`` with NumPy at each size
    it is asked about (in ``adbench compare``, inside the guarded worker). There is no
    hand-written Jacobian, so the ``manual`` baseline skips it and results are checked against
    float64 central differences.

    ``sparsity`` declares J's pattern for the ``sparse-jacobian`` operation: an m x n SciPy sparse matrix or
    boolean array (for one n), or a function ``sparsity(n, **constants)`` returning one. Its nonzeros must
    cover every entry that can be nonzero; a pattern that misses one makes the case ``wrong`` against the
    (pattern-free) differenced reference.
    """
    label = name or getattr(f, "__qualname__", None) or "user_function"
    if constants is not None and not callable(constants) and not isinstance(constants, Mapping):
        raise ValueError(
            f"constants of {label} must be a mapping or a function constants(n, seed), not {type(constants).__name__}"
        )

    def make_constants(x: np.ndarray, rng: np.random.Generator | None, seed: int = 0) -> dict[str, Any]:
        if constants is None:
            return {}
        made = dict(constants(x.shape[0], seed) if callable(constants) else constants)
        bad = [k for k, v in made.items() if not isinstance(v, (np.ndarray, int, float, bool, np.number))]
        if bad:
            raise ValueError(
                f"constant {bad[0]!r} of {label} must be a NumPy array or a Python number, "
                f"not {type(made[bad[0]]).__name__}"
            )
        keep = _accepted_constants(f, list(made))
        return {k: (np.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in made.items() if k in keep}

    @functools.cache
    def probe_shape(n: int) -> tuple[int, ...]:
        # One NumPy evaluation per size, on a fixed probe input (0.5 ... 1.5, away from zero).
        x = np.linspace(0.5, 1.5, n)
        try:
            shape = tuple(np.shape(f(x, np, **make_constants(x, None, 0))))
        except Exception as exc:
            raise ValueError(
                f"{label}(x, numpy) failed at n={n} while finding its output shape: {type(exc).__name__}: {exc}"
            ) from exc
        if len(shape) > 1:
            raise ValueError(
                f"{label} returns shape {shape}; a problem maps R^n to a scalar or a "
                f"vector: flatten it with xp.reshape(y, (-1,))"
            )
        return shape

    def output_size(n: int) -> int:
        shape = probe_shape(n)
        return int(np.prod(shape)) if shape else 1

    declared = None
    if sparsity is not None:
        declared = sparsity if callable(sparsity) else (lambda n, **_: sparsity)

        def declared_with_constants(n: int, **consts: Any) -> Any:  # a user's sparsity takes what it names
            keep = _accepted_constants(sparsity, list(consts)) if callable(sparsity) else []
            return declared(n, **{k: consts[k] for k in keep or []})

    return Problem(
        name=label,
        function=f,
        description=f"user function {label}",
        sparsity=declared_with_constants if declared is not None else None,
        output_size=output_size,
        sizes=tuple(sizes),
        quick_sizes=tuple(sizes)[:2],
        make_constants=make_constants,
        builtin=False,
        constants_take_seed=True,
        probe_shape=probe_shape,
    )


def module_sparsity(spec: str) -> Any:
    """The ``sparsity(n, **constants)`` found next to ``MODULE:FUNCTION``'s function, or None."""
    import_function(spec)
    found = getattr(_IMPORTED.get(spec), "sparsity", None)
    return found if callable(found) else None


_IMPORTED: dict[str, Any] = {}  # MODULE:FUNCTION -> its module, for what lives next to the function


@functools.cache
def import_function(spec: str) -> tuple[Function, ConstantsSource]:
    """Load ``MODULE:FUNCTION`` (a module name or a path to a .py file) for ``--problem``, with
    the module's ``constants(n, seed)`` when it has one."""
    import importlib
    import importlib.util
    import pathlib

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"--problem takes MODULE:FUNCTION (e.g. mymodule:f or ./file.py:f), not {spec!r}"
            + (
                f"; to run the registered problem, use --problems {spec.rstrip(':')}"
                if spec.rstrip(":") in _REGISTRY
                else ""
            )
        )
    if module_name.endswith(".py"):
        path = pathlib.Path(module_name)
        if not path.exists():
            raise ValueError(f"no such file {module_name!r} in --problem {spec!r}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:  # a path importlib has no loader for
            raise ValueError(f"cannot import {module_name!r} in --problem {spec!r}: not a Python source file")
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise ValueError(
                f"importing {module_name!r} for problem {spec!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    else:
        import os
        import sys

        if os.getcwd() not in sys.path and "" not in sys.path:
            # As `python -m` would: the `adbench` console script's sys.path lacks the working folder.
            sys.path.append(os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"cannot import {module_name!r} for problem {spec!r}: {exc}") from exc
        except Exception as exc:  # the module's own code failed (a SyntaxError, an error at import)
            raise ValueError(
                f"importing {module_name!r} for problem {spec!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    try:
        f = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no function {attr!r}") from None
    if not callable(f):
        raise ValueError(f"{spec!r} is not callable")
    _IMPORTED[spec] = module
    constants = getattr(module, "constants", None)
    if constants is not None and not callable(constants):
        raise ValueError(f"{module_name}.constants must be a function constants(n, seed) returning a dict")
    return f, constants
