"""NumPy baselines: the hand-written Jacobian (ADBench's "Manual") and central finite differences."""

from __future__ import annotations


import numpy as np

from adbench.backends._base import Backend, PreparedCase, convert_constants


class ManualBackend(Backend):
    name = "manual"
    framework = "numpy"
    modes = ("manual",)
    description = "hand-written NumPy Jacobian (the floor every AD framework is measured against)"
    vectorized = False

    def load(self, threads=None):
        return np

    def supports(self, problem, mode):
        if problem.manual_jacobian is None:
            return f"problem {problem.name!r} has no hand-written Jacobian"
        return None

    def prepare(self, problem, x, mode, dtype, constants):
        reason = self.supports(problem, mode)
        if reason:
            raise NotImplementedError(reason)
        xv = x.astype(dtype)
        consts = convert_constants(constants, lambda a: a.astype(dtype))
        return PreparedCase(
            jacobian=lambda: problem.manual_jacobian(xv, **consts),
            function=lambda: problem.function(xv, np, **consts),
            sync=None,
            to_numpy=np.asarray,
        )


def central_differences(f, x: np.ndarray, scalar_output: bool) -> np.ndarray:
    """Central differences, one column per pair of evaluations (so n passes, like forward mode)."""
    eps = np.finfo(x.dtype).eps
    # eps^(1/3) balances truncation (h^2) against rounding (eps/h) for central differences.
    steps = eps ** (1 / 3) * np.maximum(1.0, np.abs(x))
    columns = []
    xp_ = x.copy()
    for i, h in enumerate(steps):
        xp_[i] = x[i] + h
        up = np.asarray(f(xp_))
        xp_[i] = x[i] - h
        down = np.asarray(f(xp_))
        xp_[i] = x[i]
        columns.append((up - down) / (2 * h))
    J = np.stack(columns, axis=-1)
    return J.reshape(x.shape) if scalar_output else J.reshape(-1, x.shape[0])


class FiniteDifferenceBackend(Backend):
    name = "finite-diff"
    framework = "numpy"
    modes = ("central",)
    description = "central finite differences in NumPy (2 n evaluations of f; approximate)"
    vectorized = False

    def load(self, threads=None):
        return np

    def prepare(self, problem, x, mode, dtype, constants):
        xv = x.astype(dtype)
        consts = convert_constants(constants, lambda a: a.astype(dtype))

        def f(v):
            return problem.function(v, np, **consts)

        return PreparedCase(
            jacobian=lambda: central_differences(f, xv, problem.is_scalar(xv.shape[0])),
            function=lambda: f(xv),
            sync=None,
            to_numpy=np.asarray,
        )
