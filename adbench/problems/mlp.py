"""``mlp``: a two-hidden-layer tanh classifier's mean cross-entropy over a batch, R^n -> R.

Against gradbench and ADBench: neither has an MLP eval. Any width h, features d, classes c and batch B on the
caller's ``inputs`` (B x d) and ``targets`` (B x c), len(x) = h^2 + (d + c + 2) h + c.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace

# A small classifier: 16 input features, 10 classes (an MNIST-sized output), a batch of 64 (a usual
# minibatch). Fixing d, c and B makes the width h the one knob: n = h^2 + (d + c + 2) h + c.
D_IN, CLASSES, BATCH = 16, 10, 64


def _n(h: int, d: int = D_IN, c: int = CLASSES) -> int:
    return d * h + h + h * h + h + h * c + c


def _width(n: int, d: int, c: int) -> int:
    """h from n: the positive root of h^2 + (d + c + 2) h + c - n = 0."""
    s = d + c + 2
    h = (math.isqrt(s * s + 4 * (n - c)) - s) // 2
    if h < 1 or _n(h, d, c) != n:
        raise ValueError(f"mlp: n = {n} is no width's parameter count for d = {d}, c = {c}")
    return h


WIDTHS = (8, 16, 32, 64, 128, 256, 512)
PRESETS = {_n(h): f"h={h}" for h in WIDTHS}


def _unpack(x: Array, xp: Namespace, d: int, c: int) -> list[Array]:
    h = _width(x.shape[0], d, c)
    parts: list[Array] = []
    start = 0
    for shape in [(d, h), (h,), (h, h), (h,), (h, c), (c,)]:
        size = math.prod(shape)
        parts.append(xp.reshape(x[start : start + size], shape))
        start += size
    return parts


def mlp(x: Array, xp: Namespace, inputs: Array, targets: Array) -> Array:
    """Softmax cross-entropy as the mean of logsumexp(z) - <t, z>, the log-sum-exp with a max shift: the
    standard has no logsumexp or log_softmax, and differentiating through the max is all of the gap to
    native code's fused cross-entropy (gradient 1.3-1.4x torch's F.cross_entropy, 1.05-1.2x JAX's
    log_softmax; with torch.logsumexp substituted, equal)."""
    W1, b1, W2, b2, W3, b3 = _unpack(x, xp, inputs.shape[1], targets.shape[1])
    a1 = xp.tanh(inputs @ W1 + b1)
    a2 = xp.tanh(a1 @ W2 + b2)
    z = a2 @ W3 + b3
    mx = xp.max(z, axis=1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(z - mx), axis=1)) + mx[:, 0]
    return xp.mean(lse - xp.sum(targets * z, axis=1))


def mlp_jacobian(x: np.ndarray, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The gradient by backpropagation, written out."""
    W1, b1, W2, b2, W3, b3 = _unpack(x, np, inputs.shape[1], targets.shape[1])
    a1 = np.tanh(inputs @ W1 + b1)
    a2 = np.tanh(a1 @ W2 + b2)
    z = a2 @ W3 + b3
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz = (p - targets) / inputs.shape[0]
    dp2 = (dz @ W3.T) * (1 - a2**2)
    dp1 = (dp2 @ W2.T) * (1 - a1**2)
    grads = [inputs.T @ dp1, dp1.sum(0), a1.T @ dp2, dp2.sum(0), a2.T @ dz, dz.sum(0)]
    return np.concatenate([g.ravel() for g in grads])


def _make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    # Weights as initialised for training (variance 1/fan-in, so tanh does not saturate), small biases.
    h = _width(n, D_IN, CLASSES)
    parts = []
    for fan_in, fan_out in [(D_IN, h), (h, h), (h, CLASSES)]:
        parts += [rng.standard_normal(fan_in * fan_out) / math.sqrt(fan_in), 0.1 * rng.standard_normal(fan_out)]
    return np.concatenate(parts)


def _make_constants(x: np.ndarray, rng: np.random.Generator) -> dict:
    labels = rng.integers(0, CLASSES, BATCH)
    _CUSTOM.pop(x.shape[0], None)  # this n is the preset's again
    return {"inputs": rng.standard_normal((BATCH, D_IN)), "targets": np.eye(CLASSES)[labels]}


# n -> (h, d, c, B) of the last caller's constants at a size: the work estimate follows them.
_CUSTOM: dict[int, tuple[int, int, int, int]] = {}


def _custom_constants(x: np.ndarray, given: Mapping[str, Any]) -> dict:
    """The MLP on the caller's batch: d from the inputs' columns, c from the targets', then the width h from
    len(x) = h^2 + (d + c + 2) h + c."""
    inputs, targets = (np.asarray(given[k], dtype=np.float64) for k in ("inputs", "targets"))
    if inputs.ndim != 2 or 0 in inputs.shape:
        raise ValueError(f"constant 'inputs' of problem 'mlp' must be a B x d array, not shape {inputs.shape}")
    if targets.ndim != 2 or targets.shape[0] != inputs.shape[0] or targets.shape[1] < 1:
        raise ValueError(
            f"constant 'targets' of problem 'mlp' must be a B x c array with the inputs' B = "
            f"{inputs.shape[0]} rows, not shape {targets.shape}"
        )
    d, c = inputs.shape[1], targets.shape[1]
    try:
        h = _width(x.shape[0], d, c)
    except ValueError:
        raise ValueError(
            f"problem 'mlp' with constants 'inputs' (d = {d}) and 'targets' (c = {c}) takes len(x) = "
            f"h^2 + (d + c + 2) h + c for a width h >= 1 ({_n(1, d, c)}, {_n(2, d, c)}, {_n(3, d, c)}, "
            f"...), not {x.shape[0]}"
        ) from None
    _CUSTOM[x.shape[0]] = (h, d, c, inputs.shape[0])
    return {"inputs": inputs, "targets": targets}


def _work_size(n: int) -> int:
    h, d, c, batch = _CUSTOM.get(n) or (_width(n, D_IN, CLASSES), D_IN, CLASSES, BATCH)
    return max(n, batch * max(h, c, d))  # the weights, or a layer's activations


register(
    Problem(
        name="mlp",
        function=mlp,
        description=(
            f"tanh MLP {D_IN} -> h -> h -> {CLASSES}, softmax cross-entropy averaged over {BATCH} examples; R^n -> R"
        ),
        scalar_output=True,
        presets=PRESETS,
        sizes=tuple(_n(h) for h in (8, 32, 128, 512)),
        default_sizes=(_n(8),),
        quick_sizes=(_n(8),),
        make_input=_make_input,
        make_constants=_make_constants,
        variable_axes={"inputs": (0,), "targets": (0,)},  # any batch size
        # Any width h, features d, classes c and batch B on the caller's batch (len(x) gives h).
        shape_constants=("inputs", "targets"),
        custom_constants=_custom_constants,
        manual_jacobian=mlp_jacobian,
        work_size=_work_size,
        # Every weight is used once per example: B n multiply-adds, linear in n at a fixed batch.
        cost_exponent=1.0,
        theory="m = 1: reverse needs 1 VJP (backpropagation), forward n JVPs, so reverse should win by about n",
    )
)
