"""``tall``: a layer-like map R^n -> R^(100 n), where forward mode should win by about 100x.

Against gradbench and ADBench: neither has it; it is here for the tall-Jacobian side of the mode question.
"""

from __future__ import annotations

import math

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace

RATIO = 100  # outputs per input: m = RATIO * n


def tall(x: Array, xp: Namespace, W: Array) -> Array:
    """One matrix-vector product and an elementwise tanh: the native spelling in every framework."""
    return xp.tanh(W @ x)


def tall_jacobian(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    return (1.0 - np.tanh(W @ x) ** 2)[:, None] * W


register(
    Problem(
        name="tall",
        function=tall,
        description=f"tanh(W x) with W of shape ({RATIO} n, n); R^n -> R^({RATIO} n), a tall Jacobian",
        output_size=lambda n: RATIO * n,
        sizes=(2, 8, 32),
        quick_sizes=(16,),
        default_sizes=(32,),
        # Scaled so W x stays O(1) and tanh does not saturate.
        make_constants=lambda x, rng: {
            "W": rng.standard_normal((RATIO * x.shape[0], x.shape[0])) / math.sqrt(x.shape[0])
        },
        manual_jacobian=tall_jacobian,
        work_size=lambda n: RATIO * n,
        cost_exponent=2.0,  # W x with W of shape (100 n, n)
        theory=f"m = {RATIO} n: forward needs n JVPs, reverse {RATIO} n VJPs, so forward should win by about {RATIO}",
    )
)
