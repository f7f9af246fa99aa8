"""Which parts of the Python array API standard each backend can differentiate, forward and reverse.

    python tools/array_api_coverage.py            # a markdown table, one row per function

Each probe is a small f(x, xp) that uses one part of the standard; a cell is "ok" when
adbench.jacobian's float64 result agrees with central differences to 1e-6, else the error's
type (or "wrong"). MLX refuses float64 (its CPU sin, cos and exp are float32-accurate), so its
columns are float32 results against the same float64 differences, to 1e-4 (float32's eps is
1.2e-7; the probes' few operations stay below 1e-5). The README's table is this script's output.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import adbench
from adbench.backends.numpy_baselines import central_differences

M = lambda x, xp: xp.reshape(x[:9], (3, 3)) + 3.0 * xp.eye(3, dtype=x.dtype)  # noqa: E731 (well-conditioned)
PROBES = {
    "elementwise (sin, exp, log, tanh, sqrt, abs, pow)": lambda x, xp: xp.sum(
        xp.sin(x) * xp.exp(x) + xp.log(x * x + 1) + xp.tanh(x) + xp.sqrt(x * x + 1) + xp.abs(x) + xp.pow(x, 2.0)
    ),
    "sum, prod, mean, std (axis)": lambda x, xp: xp.sum(
        xp.prod(xp.reshape(x[:9], (3, 3)), axis=0) + xp.mean(x) + xp.std(x)
    ),
    "max, min (axis)": lambda x, xp: xp.sum(xp.max(xp.reshape(x[:9], (3, 3)), axis=1) - xp.min(x)),
    "where": lambda x, xp: xp.sum(xp.where(x > 0, x, 0.5 * x)),
    "concat, stack": lambda x, xp: xp.sum(xp.concat([x, x * x]) * xp.sum(xp.stack([x, x], axis=0)[0, :])),
    "matmul (@), matrix_transpose": lambda x, xp: xp.sum(M(x, xp) @ xp.matrix_transpose(M(x, xp))),
    "vecdot": lambda x, xp: xp.vecdot(x, x * x),
    "cumulative_sum": lambda x, xp: xp.sum(xp.cumulative_sum(x, axis=0) ** 2),
    "sort": lambda x, xp: xp.sum(xp.sort(x) * xp.arange(x.shape[0], dtype=x.dtype)),
    "clip": lambda x, xp: xp.sum(xp.clip(x, -0.5, 0.5) * x),
    "take": lambda x, xp: xp.sum(xp.take(x, xp.asarray([0, 2, 2, 5])) ** 2),
    "linalg.inv": lambda x, xp: xp.sum(xp.linalg.inv(M(x, xp))),
    "linalg.solve": lambda x, xp: xp.sum(xp.linalg.solve(M(x, xp), x[:3])),
    "linalg.det": lambda x, xp: xp.linalg.det(M(x, xp)),
    "linalg.cholesky": lambda x, xp: xp.sum(xp.linalg.cholesky(M(x, xp) @ xp.matrix_transpose(M(x, xp)))),
    "linalg.eigh (eigenvalues)": lambda x, xp: xp.sum(
        xp.linalg.eigh(M(x, xp) + xp.matrix_transpose(M(x, xp))).eigenvalues ** 2
    ),
    "linalg.vector_norm": lambda x, xp: xp.linalg.vector_norm(x),
}


# Backends whose float64 is not float64 (their cells are float32 results), and the tolerance for them.
FLOAT32_ONLY = {"mlx"}
TOLERANCE = {"float64": 1e-6, "float32": 1e-4}
BACKENDS = ("jax", "torch", "autograd", "tensorflow", "mlx")


def probe(f: Callable[[Any, Any], Any], backend: str, mode: str, x: np.ndarray) -> str:
    dtype = "float32" if backend in FLOAT32_ONLY else "float64"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            J = adbench.jacobian(f, x, backend=backend, mode=mode, dtype=dtype)
    except Exception as exc:  # noqa: BLE001 (a cell names whatever error a user would meet)
        return type(exc).__name__
    ref = central_differences(lambda v: f(v, np), x, True)
    return "ok" if np.max(np.abs(J - ref)) <= TOLERANCE[dtype] * max(1.0, np.max(np.abs(ref))) else "wrong"


def main() -> int:
    x = np.linspace(0.3, 1.4, 10)
    available = {i.name for i in adbench.list_backends() if i.available}
    columns = [(b, m) for b in BACKENDS if b in available for m in ("forward", "reverse")]
    rows = []
    for name, f in PROBES.items():
        row = {"standard": name}
        for b, m in columns:
            row[f"{b} {m}"] = probe(f, b, m, x)
        rows.append(row)
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
