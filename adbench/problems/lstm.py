"""``lstm``: ADBench's D-LSTM objective, a character model unrolled over a sequence, R^n -> R.

Against ADBench and gradbench: the same function as ADBench's lstm_objective (its published l = 2, c = 1024 values
are tests/test_workloads.py's) and gradbench's lstm eval, which adopts it: x = (main_params, extra_params)
flattened, constants ``state`` and ``sequence`` (gradbench's input fields of those names). Any l, b and c on the
caller's state and sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.services import python_loop
from adbench.xp import Array, Namespace

B = 14  # ADBench's b: the width of every layer and of the sequence's symbols


def _n(layers: int) -> int:
    return 8 * layers * B + 3 * B


# n depends on the layer count l only, so one sequence length c per l: ADBench's (l=2, c=1024) and
# (l=4, c=4096), and l=1 over 4 symbols for the default run. The unrolled loop is one long graph whose
# XLA compile time grows faster than linearly in c (jacrev at l=1 here: 0.6 s at c=8, 1.7 s at 16,
# 8 s at 32; an HVP costs 2-3 times its Jacobian's), so the default run's sequence is short. n -> (l, c).
SHAPES = {_n(1): (1, 4), _n(2): (2, 1024), _n(4): (4, 4096)}
PRESETS = {n: f"l={l},c={c}" for n, (l, c) in SHAPES.items()}


def lstm(x: Array, xp: Namespace, state: Array, sequence: Array, loop: Callable[..., Any] = python_loop) -> Array:
    """ADBench's PyTorch lstm_objective(main_params, extra_params, state, sequence).

    The sequence is the ``loop`` service's: on JAX a scan (unrolled, XLA's compile grew faster than
    linearly with c: at l=2 the gradient's first call took 7.4 s at c=16 and 37 s at c=32, the HVP's
    95 s and over 10 minutes; with the scan 0.8-1.5 s at any c, ADBench's 1024 included), elsewhere a
    Python loop as native code writes it. The
    layers, a handful, are a Python loop inside each step. The standard has no logistic function, and
    1 / (1 + exp(-v)) costs four operations where PyTorch's native code calls one fused torch.sigmoid
    (eager torch: f 1.2-1.3x, gradient 1.25-1.4x the native twin). So the gates use
    sigmoid(g) = (1 + tanh(g / 2)) / 2 with the halving folded into the three sigmoid gates' weights
    and biases once, before the loop: one tanh over all four gates per layer and step, then a
    multiply-add for the three sigmoids (eager torch now f 1.1-1.2x, gradient 1.1-1.3x; JAX and
    autograd unchanged within the noise, tools/fidelity.py). Rows are taken as ``a[i, :]``: the
    standard leaves ``a[i]`` on a 2-D array unspecified.
    """
    layers, b = state.shape[0] // 2, sequence.shape[1]
    main = xp.reshape(x[: 8 * layers * b], (2 * layers, 4 * b))
    extra = xp.reshape(x[8 * layers * b :], (3, b))

    # sigmoid(g) = (1 + tanh(g / 2)) / 2: the forget, input and output gates' weights and biases
    # halved once, here, so each step takes one tanh over the 4b gates (the last b are the change's).
    half = xp.concat([xp.full((3 * b,), 0.5, dtype=x.dtype), xp.ones((b,), dtype=x.dtype)])
    weights = [main[2 * j, :] * half for j in range(layers)]
    biases = [main[2 * j + 1, :] * half for j in range(layers)]

    def step(t, carry):
        hidden, cell, total = carry
        v = sequence[t, :] * extra[0, :]
        hidden_out, cell_out = [], []
        for j in range(layers):
            act = xp.tanh(xp.concat([v, hidden[j], v, hidden[j]]) * weights[j] + biases[j])
            sig = 0.5 * act[: 3 * b] + 0.5  # forget, input and output gates
            c = cell[j] * sig[:b] + sig[b : 2 * b] * act[3 * b :]
            v = sig[2 * b :] * xp.tanh(c)
            hidden_out.append(v)
            cell_out.append(c)
        ypred = v * extra[1, :] + extra[2, :]
        ynorm = ypred - xp.log(2 + xp.sum(xp.exp(ypred)))  # ADBench's sum(exp(ypred), 2): start at 2
        return tuple(hidden_out), tuple(cell_out), total + sequence[t + 1, :] * ynorm

    init = (
        tuple(state[2 * j, :] for j in range(layers)),
        tuple(state[2 * j + 1, :] for j in range(layers)),
        xp.zeros_like(extra[0, :]),
    )  # total: a vector, scaled by 1/count at the end, never a 0-d result
    _, _, total = loop(step, init, sequence.shape[0] - 1)
    return xp.sum(total * (-1.0 / ((sequence.shape[0] - 1) * b)))


def lstm_jacobian(x: np.ndarray, state: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    """The gradient by hand: backpropagation through time, one layer and step at a time."""
    layers, b = state.shape[0] // 2, sequence.shape[1]
    steps = sequence.shape[0] - 1
    main = x[: 8 * layers * b].reshape(2 * layers, 4 * b)
    w_in, w_out, b_out = x[8 * layers * b :].reshape(3, b)
    W, bias = main[0::2], main[1::2]  # (l, 4b) each
    hidden, cell = list(state[0::2]), list(state[1::2])  # rebound each step, never written into
    # Forward, keeping what the backward sweep needs: per step and layer the layer's input v, its
    # previous hidden and cell, the four gate activations and tanh of the new cell.
    tape = []
    for t in range(steps):
        v = sequence[t] * w_in
        rec = []
        for j in range(layers):
            g = np.concatenate([v, hidden[j], v, hidden[j]]) * W[j] + bias[j]
            f, i, o = (1 / (1 + np.exp(-g[k * b : (k + 1) * b])) for k in range(3))
            c = np.tanh(g[3 * b :])
            new_cell = cell[j] * f + i * c
            tc = np.tanh(new_cell)
            rec.append((v, hidden[j], cell[j], f, i, o, c, tc))
            cell[j], hidden[j] = new_cell, o * tc
            v = hidden[j]
        tape.append((rec, v))
    dW, dbias = np.zeros_like(W), np.zeros_like(bias)
    dw_in, dw_out, db_out = np.zeros_like(w_in), np.zeros_like(w_in), np.zeros_like(w_in)
    dh, dc = np.zeros((layers, b), x.dtype), np.zeros((layers, b), x.dtype)  # from step t+1 into step t's state
    scale = -1.0 / (steps * b)
    for t in reversed(range(steps)):
        rec, v_top = tape[t]
        y = sequence[t + 1]
        ypred = v_top * w_out + b_out
        e = np.exp(ypred)
        dy = scale * (y - y.sum() * e / (2 + e.sum()))
        dw_out += dy * v_top
        db_out += dy
        dv = dy * w_out
        for j in reversed(range(layers)):
            v, h, c_prev, f, i, o, c, tc = rec[j]
            dht = dv + dh[j]
            dcell = dht * o * (1 - tc**2) + dc[j]
            dg = np.concatenate(
                [dcell * c_prev * f * (1 - f), dcell * c * i * (1 - i), dht * tc * o * (1 - o), dcell * i * (1 - c**2)]
            )
            dW[j] += dg * np.concatenate([v, h, v, h])
            dbias[j] += dg
            dgW = dg * W[j]
            dv = dgW[:b] + dgW[2 * b : 3 * b]
            dh[j] = dgW[b : 2 * b] + dgW[3 * b :]
            dc[j] = dcell * f
        dw_in += dv * sequence[t]
    dmain = np.empty_like(main)
    dmain[0::2], dmain[1::2] = dW, dbias
    return np.concatenate([dmain.ravel(), dw_in, dw_out, db_out])


def _make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    # ADBench's parameters are uniform on [0, 1).
    return rng.random(n)


def _make_constants(x: np.ndarray, rng: np.random.Generator) -> dict:
    # The state uniform on [0, 1), the sequence 0/1 symbol codes, as in ADBench's data files.
    layers, c = SHAPES[x.shape[0]]
    return {"state": rng.random((2 * layers, B)), "sequence": rng.integers(0, 2, (c, B)).astype(np.float64)}


def _custom_constants(x: np.ndarray, given: Mapping[str, Any]) -> dict[str, Any]:
    """lstm on the caller's state and sequence: l and b from the state (2l x b), len(x) = 8 l b + 3 b."""
    state, sequence = np.asarray(given["state"]), np.asarray(given["sequence"])
    if state.ndim != 2 or state.shape[0] % 2 or 0 in state.shape:
        raise ValueError(
            f"constant 'state' of problem 'lstm' must be a 2l x b array (the hidden and cell rows "
            f"of l layers of width b), not shape {state.shape}"
        )
    layers, b = state.shape[0] // 2, state.shape[1]
    if sequence.ndim != 2 or sequence.shape[1] != b or sequence.shape[0] < 2:
        raise ValueError(
            f"constant 'sequence' of problem 'lstm' must be a c x b array of c >= 2 symbols of the "
            f"state's width b = {b}, not shape {sequence.shape}"
        )
    if x.shape[0] != 8 * layers * b + 3 * b:
        raise ValueError(
            f"problem 'lstm' with constant 'state' of shape {state.shape} (l = {layers} layers of "
            f"width b = {b}) takes len(x) = 8 l b + 3 b = {8 * layers * b + 3 * b}, not {x.shape[0]}"
        )
    return {"state": state.astype(np.float64), "sequence": sequence.astype(np.float64)}


register(
    Problem(
        name="lstm",
        function=lstm,
        description=f"ADBench's D-LSTM objective: l layers of width b = {B} unrolled over c symbols; R^n -> R",
        scalar_output=True,
        presets=PRESETS,
        sizes=tuple(SHAPES),
        default_sizes=(_n(1),),
        quick_sizes=(_n(1),),
        make_input=_make_input,
        make_constants=_make_constants,
        variable_axes={"sequence": (0,)},
        # Any l, b and c on the caller's state and sequence (len(x) = 8 l b + 3 b).
        shape_constants=("state", "sequence"),
        custom_constants=_custom_constants,
        manual_jacobian=lstm_jacobian,
        # The sequence (c, b) is the largest array one evaluation touches; each step's are 4b long.
        work_size=lambda n: SHAPES[n][1] * B if n in SHAPES else n,
        # (c - 1) l steps of O(b) work each, and c grows with l at the presets: from ADBench's (l=2, c=1024)
        # to (l=4, c=4096), the sweep's last pair, cost grows 4095*4 / (1023*2) = 8.0x while n grows
        # 490/266 = 1.84x: c = log 8.0 / log 1.84 = 3.4. (At a fixed sequence length it would be 1.)
        cost_exponent=3.4,
        theory="m = 1: reverse needs 1 VJP, forward n JVPs; every pass runs the whole sequence step by step",
    )
)
