"""The one interface every framework adapter implements, and the prepared case it returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from adbench.problems import Problem

DTYPES = ("float32", "float64")
AD_MODES = ("forward", "reverse")


@dataclass
class PreparedCase:
    """Zero-argument callables with inputs already converted, ready to time.

    ``sync(out)`` blocks until ``out`` is computed (JAX dispatches asynchronously); it is ``None``
    where a call returns finished results, so the timer's loop stays as tight as timeit's.
    """

    jacobian: Callable[[], Any]
    function: Callable[[], Any]
    sync: Callable[[Any], Any] | None
    to_numpy: Callable[[Any], np.ndarray]

    def run_jacobian(self) -> np.ndarray:
        out = self.jacobian()
        if self.sync is not None:
            self.sync(out)
        return self.to_numpy(out)


class Backend(ABC):
    """A way of computing Jacobians: one framework (or baseline) and the modes it offers."""

    name: str
    framework: str  # the importable module whose version is reported
    modes: tuple[str, ...] = AD_MODES
    description: str = ""
    # True where forward/reverse Jacobians are built by vectorising JVPs/VJPs over a basis
    # (jacfwd/jacrev); False where passes run one after another. It decides the memory estimate.
    vectorized: bool = True

    @abstractmethod
    def load(self, threads: int | None = None) -> Any:
        """Import the framework (configuring its threads) and return the module."""

    def version(self) -> str:
        return str(getattr(self.load(), "__version__", "unknown"))

    @abstractmethod
    def prepare(
        self, problem: Problem, x: np.ndarray, mode: str, dtype: str, constants: dict[str, Any]
    ) -> PreparedCase:
        """Build the Jacobian and function callables for one case (nothing is timed here)."""

    def supports(self, problem: Problem, mode: str) -> str | None:
        """``None`` when the case can run, else the reason it is skipped."""
        return None

    def memory_estimate(self, problem: Problem, n: int, mode: str, dtype: str) -> int:
        """Rough peak bytes of one Jacobian evaluation, to skip cases that would not fit."""
        itemsize = np.dtype(dtype).itemsize
        m = problem.n_outputs(n)
        work = max(problem.work_size(n), n, m)
        jac = n * m
        if not self.vectorized:
            return itemsize * 4 * (jac + work)
        passes = n if mode == "forward" else m
        # A vectorised pass carries `passes` copies of every intermediate; ~4 are alive at once.
        return itemsize * 4 * (jac + passes * (work + n + m))


def convert_constants(constants: dict[str, Any], asarray: Callable[[np.ndarray], Any]) -> dict[str, Any]:
    """Arrays become the backend's arrays; Python numbers stay static (see control_loop)."""
    return {k: asarray(v) if isinstance(v, np.ndarray) else v for k, v in constants.items()}
