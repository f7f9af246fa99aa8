"""Sparse Jacobians by compressed passes: the declared pattern, its colouring, the seeds' layout and the decompression.

Everything here is backend-independent. A backend supplies only its compressed pass: ``p`` JVPs with the seeds
``s_k = (colours == k)`` (forward: J S, one column of S per colour of a column colouring) or ``p`` VJPs (reverse:
Sᵀ J, a row colouring), stacked as a (p, m) or (p, n) array ``B``; the nonzeros are then the entries
``B.flat[compression.gather]`` in the pattern's CSR order, and ``compression.matrix(values)`` assembles the
SciPy matrix. Two columns share a colour only if no row has both (Curtis, Powell & Reid 1974), so each entry
of ``B`` that the gather reads holds exactly one Jacobian entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from adbench.backends.modes import PASS_NAMES

if TYPE_CHECKING:
    from adbench.problems import Problem

MODES = PASS_NAMES  # a compressed pass is a JVP (forward, columns) or a VJP (reverse, rows)


@dataclass(frozen=True)
class Pattern:
    """A Jacobian's sparsity pattern, m x n, in canonical CSR form (rows in order, columns sorted, no duplicates)."""

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    @property
    def rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    def csr(self) -> Any:
        """The pattern as a boolean SciPy CSR matrix."""
        import scipy.sparse

        return scipy.sparse.csr_matrix((np.ones(self.nnz, dtype=bool), self.indices, self.indptr), shape=self.shape)

    def matrix(self, values: np.ndarray) -> Any:
        """The SciPy CSR matrix with ``values`` (float, length nnz, in CSR order) on this pattern."""
        import scipy.sparse

        values = np.asarray(values)
        if values.shape != (self.nnz,):
            raise ValueError(
                f"{values.shape[0] if values.ndim == 1 else values.shape} values for a pattern of {self.nnz} nonzeros"
            )
        return scipy.sparse.csr_matrix((values, self.indices, self.indptr), shape=self.shape)


def as_pattern(declared: Any, shape: tuple[int, int], owner: str = "the problem") -> Pattern:
    """A Pattern from a SciPy sparse matrix or array, or a dense boolean (or 0/1) array, of the Jacobian's shape."""
    import scipy.sparse

    if scipy.sparse.issparse(declared):
        csr = scipy.sparse.csr_matrix(declared)
    else:
        arr = np.asarray(declared)
        if arr.ndim != 2:
            raise ValueError(
                f"the sparsity pattern of {owner} must be a 2-D (m x n) array or SciPy sparse "
                f"matrix, not an array of shape {arr.shape}"
            )
        csr = scipy.sparse.csr_matrix(arr != 0)
    if csr.shape != tuple(shape):
        raise ValueError(
            f"the sparsity pattern of {owner} has shape {csr.shape}; its Jacobian is "
            f"{shape[0]} x {shape[1]} (outputs x inputs)"
        )
    csr.data = csr.data != 0  # explicit zeros are not nonzeros
    csr.eliminate_zeros()
    csr.sum_duplicates()
    csr.sort_indices()
    return Pattern(tuple(csr.shape), np.asarray(csr.indptr, np.int64), np.asarray(csr.indices, np.int64))


def pattern_of(problem: Problem, x: np.ndarray, constants: dict[str, Any]) -> Pattern:
    """The pattern ``problem`` declares at ``x`` (its ``sparsity(n, **constants)``), checked against J's shape."""
    if problem.sparsity is None:
        raise ValueError(f"problem {problem.name!r} declares no sparsity pattern")
    n = int(np.shape(x)[0])
    declared = problem.sparsity(n, **constants) if callable(problem.sparsity) else problem.sparsity
    return as_pattern(declared, (problem.n_outputs(n), n), f"problem {problem.name!r}")


# -- colouring -------------------------------------------------------------------------------------------------
def colour_columns(pattern_csr: Any) -> np.ndarray:
    """A colour per column such that no row has two nonzeros of one colour: a greedy colouring of the
    column-intersection graph, in the columns' natural order.

    SciPy's Curtis-Powell-Reid grouping (``scipy.optimize._numdiff.group_columns``, compiled, what
    ``least_squares`` uses for sparse differences) was chosen by measurement (README: "Sparse Jacobians"):
    in natural order it found as few colours as networkx's best strategies (largest_first, smallest_last,
    DSATUR) on every ba and ht preset, 100-1000x faster, and it scales to ba1, whose intersection graph
    networkx cannot hold. Its default random order found more (ba: 20-33 against 15). Should SciPy drop
    the private function, networkx's largest_first (the same colours here) takes over.
    """
    import scipy.sparse

    csr = scipy.sparse.csr_matrix(pattern_csr)
    try:
        from scipy.optimize._numdiff import group_columns
    except ImportError:  # pragma: no cover - SciPy keeps it today; the fallback is slower, not different
        return _networkx_colours(csr)
    return np.asarray(group_columns(csr, order=np.arange(csr.shape[1])), dtype=np.int64)


def _networkx_colours(csr: Any) -> np.ndarray:
    import networkx as nx

    graph = nx.from_scipy_sparse_array((csr.T @ csr).astype(np.int8))
    graph.remove_edges_from(nx.selfloop_edges(graph))
    colours = nx.greedy_color(graph, strategy="largest_first")
    return np.array([colours[j] for j in range(csr.shape[1])], dtype=np.int64)


@dataclass(frozen=True)
class Compression:
    """How one mode compresses a pattern: the colouring, the seeds it implies, and where each nonzero lands."""

    mode: str
    pattern: Pattern
    colours: np.ndarray  # per column (forward) or row (reverse)
    gather: np.ndarray  # nnz flat indices into B, (p, m) forward or (p, n) reverse, in CSR order

    @property
    def n_colours(self) -> int:
        return int(self.colours.max()) + 1 if self.colours.size else 0

    @property
    def n_seeded(self) -> int:
        """What a dense Jacobian needs instead: n JVPs (forward) or m VJPs (reverse)."""
        return self.pattern.shape[1] if self.mode == "forward" else self.pattern.shape[0]

    def seeds(self, dtype: DTypeLike = np.float64) -> np.ndarray:
        """The seed matrix Sᵀ, (p, n) forward or (p, m) reverse: row k is 1 where the colour is k."""
        return (self.colours[None, :] == np.arange(self.n_colours)[:, None]).astype(dtype)

    def matrix(self, values: np.ndarray) -> Any:
        return self.pattern.matrix(values)

    def words(self) -> str:
        """'forward: 15 colours of 55 710 columns' for compare's theory line."""
        what = "columns" if self.mode == "forward" else "rows"
        return f"{self.mode}: {self.n_colours} colours of {self.n_seeded:,} {what}".replace(",", "\u202f")


def compress(pattern: Pattern, mode: str) -> Compression:
    """The colouring of ``pattern`` for ``mode`` and the gather of its nonzeros from the compressed passes."""
    if mode not in MODES:
        raise ValueError(f"compressed Jacobians have modes {', '.join(MODES)}, not {mode!r}")
    m, n = pattern.shape
    rows, cols = pattern.rows, pattern.indices
    if mode == "forward":
        colours = colour_columns(pattern.csr())
        flat = colours[cols] * m + rows  # J[i, j] = B[colour(j), i]
    else:
        colours = colour_columns(pattern.csr().T)
        flat = colours[rows] * n + cols  # J[i, j] = B[colour(i), j]
    # int32 where it fits: JAX without x64 has no int64, and the index array is as long as the nonzeros.
    index_dtype = np.int32 if flat.size == 0 or flat.max() < 2**31 else np.int64
    return Compression(mode, pattern, colours.astype(index_dtype), flat.astype(index_dtype))


def compression_for(problem: Problem, x: np.ndarray, constants: dict[str, Any], mode: str) -> Compression:
    """The problem's pattern at ``x`` compressed for ``mode``: what every backend's prepare computes once,
    outside the timed call."""
    return compress(pattern_of(problem, x, constants), mode)


# -- baselines -----------------------------------------------------------------------------------------------------
def compressed_differences(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, comp: Compression) -> np.ndarray:
    """Central differences, one pair of evaluations per colour: every column of colour k is stepped by its own
    h_j at once, and J[i, j] = (f(x + h s_k) - f(x - h s_k))_i / 2 h_j. The nonzeros, in CSR order."""
    if comp.mode != "forward":
        raise ValueError("compressed differences colour columns (forward)")
    eps = np.finfo(x.dtype).eps
    h = (eps ** (1 / 3) * np.maximum(1.0, np.abs(x))).astype(x.dtype)  # as central_differences' steps
    m = comp.pattern.shape[0]
    B = np.empty((comp.n_colours, m), dtype=x.dtype)
    for k in range(comp.n_colours):
        step = np.where(comp.colours == k, h, 0).astype(x.dtype)
        B[k] = (np.asarray(f(x + step)) - np.asarray(f(x - step))).reshape(-1)
    return B.reshape(-1)[comp.gather] / (2 * h[comp.pattern.indices])


def relative_error(result: Any, reference: Any) -> float:
    """max |R' - R| / max |R| over every entry of two sparse (or dense) matrices: entries off one pattern count."""
    import scipy.sparse

    a = scipy.sparse.csr_matrix(result, dtype=np.float64)
    b = scipy.sparse.csr_matrix(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"result has shape {a.shape}, the reference {b.shape}")
    diff = (a - b).tocsr()
    scale = abs(b).max() if b.nnz else 0.0
    worst = abs(diff).max() if diff.nnz else 0.0
    return float(worst / (scale or 1.0))
