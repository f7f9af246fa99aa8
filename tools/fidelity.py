"""Fidelity: each registered problem, written once, against an idiomatic native twin per framework.

    python tools/fidelity.py                 # every problem at its sizes below, float32
                                             # (and float64 at the default-run sizes)
    python tools/fidelity.py --quick         # the default-run size of each problem, float32
    python tools/fidelity.py --problems ode,lstm --frameworks jax,torch --dtypes float32
    python tools/fidelity.py --table results/reference/fidelity.jsonl   # the README's table of saved cells

For every registered problem and framework, a twin written the way that framework's users write it
(JAX: lax.scan, jax.nn.logsumexp, .at[].set; PyTorch: torch.logsumexp, einsum, index assignment;
autograd: its numpy) is first checked equal to the registry's problem in float64 (f and its
derivative, on identical inputs), then both f and the derivative (a scalar f's gradient, a vector
f's Jacobian) are timed side by side: one process per framework, one thread, the four callables
interleaved round by round (their order reversed every other round), each sample a calibrated
block of calls (adbench.engine.timing.calibrate and time_block). A cell reports adbench's time over
the twin's as the median of the per-round ratios with a 95 % percentile-bootstrap interval over the
rounds: a paired estimate, so the machine's drift cancels. A fifth callable, the twin's derivative
built a second time, gives each cell an A/A ratio: what identical code measures as, the noise floor. The
written-once side is exactly what adbench times (the backend's PreparedCase: namespace, services and adapter included).

Adding a framework: write its twins (a dict problem -> f(x, **constants) in its own arrays) and a
Framework subclass that builds f and the derivative the idiomatic way; register both in FRAMEWORKS.
The twins live here, never in the registry: problems stay written once.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The sizes of each problem measured by default: its default-run size and, where the issue found a
# gap, larger ones (ode at 100 and 1000, ADBench's lstm l=2,c=1024, gmm D=10,K=25 and D=20,K=50, mlp h=64).
SIZES = {
    "basic": (2,),
    "loss": (10_000,),
    "control_loop": (100,),
    "tall": (32,),
    "gmm": (30, 1650, 11_550),
    "lstm": (154, 266),
    "ode": (16, 100, 1000),
    "mlp": (298, 5898),
    "llsq": (128, 512),
}
CHECK_RTOL = {"f": 1e-12, "derivative": 1e-10}  # float64, relative to max|value|: rounding of reordered sums
ROUNDS = (7, 41)  # at least, at most rounds per cell
CELL_BUDGET_S = 2.0  # sampling seconds per cell, once the minimum rounds are in
SAMPLE_S = 2e-3  # calls per sample calibrated so one sample lasts this long
TARGET = 1.25  # the written-once f and derivative within this factor of the native twin


# -- the twins: f(x, **constants) as each framework's users write it ---------------------------------------
def _gmm_constant(n: int, d: int, k: int, gamma: float, m: float, prior_sign: int) -> float:
    """gmm's x-independent terms: -N D/2 log 2 pi and the Wishart normaliser with the prior's sign (the twins' own
    is ``- prior_sign * prior``, the prior's data terms gamma^2/2 |Q|^2 - m sum q)."""
    from adbench.problems.gmm import wishart_normaliser

    return -n * d / 2 * math.log(2 * math.pi) + prior_sign * wishart_normaliser(d, k, gamma, m)


def _gmm_sizes(n_params: int, d: int) -> int:
    return n_params // (1 + d + d * (d + 1) // 2)


def _mlp_width(n: int, d: int, c: int) -> int:
    s = d + c + 2
    return (math.isqrt(s * s + 4 * (n - c)) - s) // 2


def rk4_step(rhs: Callable[[Any], Any], y: Any, h: float) -> Any:
    """One classical Runge-Kutta step of y' = rhs(y): plain arithmetic, the same in every framework's twin of ode."""
    k1 = rhs(y)
    k2 = rhs(y + h / 2 * k1)
    k3 = rhs(y + h / 2 * k2)
    k4 = rhs(y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def jax_twins() -> dict[str, Callable[..., Any]]:
    import jax
    import jax.numpy as jnp

    def basic(x):
        return jnp.array([jnp.sin(x[0] / x[1]) + x[1] ** 2, x[0] ** 2 - x[1] ** 2, x[0] ** 3])

    def loss(x, x_star):
        return jnp.sin(jnp.exp(jnp.dot(x_star, x) / jnp.sqrt(x.shape[0])))  # the tutorial's line

    def control_loop(z, k):
        return jnp.sum(jax.lax.fori_loop(0, k, lambda _, z: jnp.sin(z**2), z))

    def tall(x, W):
        return jnp.tanh(W @ x)

    def gmm(x, data, wishart_gamma, wishart_m, prior_sign=1):
        n, d = data.shape
        k = _gmm_sizes(x.shape[0], d)
        alphas, means, icf = x[:k], x[k : k + k * d].reshape(k, d), x[k + k * d :].reshape(k, -1)
        q, l = icf[:, :d], icf[:, d:]
        cols, rows = np.triu_indices(d, 1)  # the strictly lower entries, column by column
        L = jnp.zeros((k, d, d), x.dtype).at[:, rows, cols].set(l)
        xc = data[None, :, :] - means[:, None, :]
        z = jnp.exp(q)[:, None, :] * xc + jnp.einsum("kij,knj->kni", L, xc)
        inner = (alphas + q.sum(axis=1))[:, None] - 0.5 * jnp.sum(z**2, axis=2)
        prior = 0.5 * wishart_gamma**2 * (jnp.sum(jnp.exp(2 * q)) + jnp.sum(l**2)) - wishart_m * jnp.sum(q)
        return (
            jnp.sum(jax.nn.logsumexp(inner, axis=0))
            - n * jax.nn.logsumexp(alphas)
            - prior_sign * prior
            + _gmm_constant(n, d, k, wishart_gamma, wishart_m, prior_sign)
        )

    def lstm(x, state, sequence):
        layers, b = state.shape[0] // 2, sequence.shape[1]
        main = x[: 8 * layers * b].reshape(2 * layers, 4 * b)
        extra = x[8 * layers * b :].reshape(3, b)

        def step(carry, symbols):
            hidden, cell = carry
            inp, target = symbols
            v = inp * extra[0]
            hs, cs = [], []
            for j in range(layers):
                gates = jnp.concatenate([v, hidden[j], v, hidden[j]]) * main[2 * j] + main[2 * j + 1]
                f, i, o = (jax.nn.sigmoid(gates[g * b : (g + 1) * b]) for g in range(3))
                c = cell[j] * f + i * jnp.tanh(gates[3 * b :])
                v = o * jnp.tanh(c)
                hs.append(v)
                cs.append(c)
            ypred = v * extra[1] + extra[2]
            ynorm = ypred - jnp.log(jnp.sum(jnp.exp(ypred)) + 2)
            return (jnp.stack(hs), jnp.stack(cs)), jnp.sum(target * ynorm)

        _, totals = jax.lax.scan(step, (state[0::2], state[1::2]), (sequence[:-1], sequence[1:]))
        return -jnp.sum(totals) / ((sequence.shape[0] - 1) * b)

    def ode(x, steps):
        h = 2.0 / steps

        def rhs(y):
            return jnp.concatenate([x[:1], x[1:] * y[:-1]])

        def step(y, _):
            return rk4_step(rhs, y, h), None

        return jax.lax.scan(step, jnp.zeros_like(x), None, length=steps)[0]

    def llsq(x, n_points):
        # gradbench's JAX tool: each point's powers by a cumulative product, vmapped over points; its grid
        # -1 + 2i/(N - 1) replaced by the registry's (2i - (N - 1)) / (N - 1), exactly 0 at an odd N's midpoint.
        m = x.shape[0]

        def point(i):
            t = (2.0 * i - (n_points - 1.0)) / (n_points - 1.0)
            powers = jnp.cumprod(jnp.full(m, t, x.dtype).at[0].set(1))
            return (jnp.sign(t) - jnp.sum(x * powers)) ** 2

        return jnp.sum(jax.vmap(point)(jnp.arange(n_points, dtype=x.dtype))) / 2.0

    def mlp(x, inputs, targets):
        W1, b1, W2, b2, W3, b3 = _mlp_params(x, inputs.shape[1], targets.shape[1], jnp.split)
        a = jnp.tanh(inputs @ W1 + b1)
        a = jnp.tanh(a @ W2 + b2)
        return -jnp.mean(jnp.sum(targets * jax.nn.log_softmax(a @ W3 + b3), axis=1))

    return dict(
        basic=basic, loss=loss, control_loop=control_loop, tall=tall, gmm=gmm, lstm=lstm, ode=ode, mlp=mlp, llsq=llsq
    )


def _mlp_params(x, d: int, c: int, split):
    h = _mlp_width(x.shape[0], d, c)
    shapes = [(d, h), (h,), (h, h), (h,), (h, c), (c,)]
    edges = np.cumsum([math.prod(s) for s in shapes])[:-1].tolist()
    return [p.reshape(s) for p, s in zip(split(x, edges), shapes)]


def torch_twins() -> dict[str, Callable[..., Any]]:
    import torch
    import torch.nn.functional as F

    def basic(x):
        return torch.stack([torch.sin(x[0] / x[1]) + x[1] ** 2, x[0] ** 2 - x[1] ** 2, x[0] ** 3])

    def loss(x, x_star):
        return torch.sin(torch.exp(x_star @ x / math.sqrt(x.shape[0])))

    def control_loop(z, k):
        for _ in range(k):
            z = torch.sin(z**2)
        return z.sum()

    def tall(x, W):
        return torch.tanh(W @ x)

    def gmm(x, data, wishart_gamma, wishart_m, prior_sign=1):
        n, d = data.shape
        k = _gmm_sizes(x.shape[0], d)
        alphas, means, icf = x[:k], x[k : k + k * d].view(k, d), x[k + k * d :].view(k, -1)
        q, l = icf[:, :d], icf[:, d:]
        cols, rows = torch.triu_indices(d, d, 1)  # the strictly lower entries, column by column
        L = x.new_zeros(k, d, d)
        L[:, rows, cols] = l
        xc = data[None, :, :] - means[:, None, :]
        z = torch.exp(q)[:, None, :] * xc + torch.einsum("kij,knj->kni", L, xc)
        inner = (alphas + q.sum(1))[:, None] - 0.5 * (z**2).sum(2)
        prior = 0.5 * wishart_gamma**2 * ((torch.exp(2 * q)).sum() + (l**2).sum()) - wishart_m * q.sum()
        return (
            torch.logsumexp(inner, 0).sum()
            - n * torch.logsumexp(alphas, 0)
            - prior_sign * prior
            + _gmm_constant(n, d, k, wishart_gamma, wishart_m, prior_sign)
        )

    def lstm(x, state, sequence):
        layers, b = state.shape[0] // 2, sequence.shape[1]
        main = x[: 8 * layers * b].view(2 * layers, 4 * b)
        extra = x[8 * layers * b :].view(3, b)
        hidden, cell = list(state[0::2]), list(state[1::2])
        total = 0.0
        for t in range(sequence.shape[0] - 1):
            v = sequence[t] * extra[0]
            for j in range(layers):
                gates = torch.cat([v, hidden[j], v, hidden[j]]) * main[2 * j] + main[2 * j + 1]
                f, i, o = torch.sigmoid(gates[: 3 * b]).split(b)
                cell[j] = cell[j] * f + i * torch.tanh(gates[3 * b :])
                hidden[j] = v = o * torch.tanh(cell[j])
            ypred = v * extra[1] + extra[2]
            total = total + (sequence[t + 1] * (ypred - torch.log(torch.exp(ypred).sum() + 2))).sum()
        return -total / ((sequence.shape[0] - 1) * b)

    def ode(x, steps):
        h = 2.0 / steps
        y = torch.zeros_like(x)

        def rhs(y):
            return torch.cat([x[:1], x[1:] * y[:-1]])

        for _ in range(steps):
            y = rk4_step(rhs, y, h)
        return y

    def llsq(x, n_points):
        t = (2.0 * torch.arange(n_points, dtype=x.dtype) - (n_points - 1.0)) / (n_points - 1.0)
        powers = torch.cumprod(
            torch.cat([torch.ones(n_points, 1, dtype=x.dtype), t[:, None].expand(n_points, x.shape[0] - 1)], dim=1),
            dim=1,
        )
        return 0.5 * ((torch.sign(t) - powers @ x) ** 2).sum()

    def mlp(x, inputs, targets):
        W1, b1, W2, b2, W3, b3 = _mlp_params(x, inputs.shape[1], targets.shape[1], _torch_split)
        a = torch.tanh(inputs @ W1 + b1)
        a = torch.tanh(a @ W2 + b2)
        return F.cross_entropy(a @ W3 + b3, targets)  # targets as class probabilities (one-hot)

    return dict(
        basic=basic, loss=loss, control_loop=control_loop, tall=tall, gmm=gmm, lstm=lstm, ode=ode, mlp=mlp, llsq=llsq
    )


def _torch_split(x, edges):
    import torch

    return torch.tensor_split(x, edges)


def autograd_twins() -> dict[str, Callable[..., Any]]:
    import autograd.numpy as anp
    from autograd.scipy.special import expit, logsumexp

    def basic(x):
        return anp.array([anp.sin(x[0] / x[1]) + x[1] ** 2, x[0] ** 2 - x[1] ** 2, x[0] ** 3])

    def loss(x, x_star):
        return anp.sin(anp.exp(anp.dot(x_star, x) / math.sqrt(x.shape[0])))

    def control_loop(z, k):
        for _ in range(k):
            z = anp.sin(z**2)
        return anp.sum(z)

    def tall(x, W):
        return anp.tanh(anp.dot(W, x))

    def gmm(x, data, wishart_gamma, wishart_m, prior_sign=1):
        n, d = data.shape
        k = _gmm_sizes(x.shape[0], d)
        alphas, means, icf = x[:k], anp.reshape(x[k : k + k * d], (k, d)), anp.reshape(x[k + k * d :], (k, -1))
        q, l = icf[:, :d], icf[:, d:]
        # autograd has no index assignment: gather L from [0, l] (entry 0 for the zeros above the diagonal).
        index = np.zeros((d, d), dtype=int)
        cols, rows = np.triu_indices(d, 1)
        index[rows, cols] = np.arange(1, rows.size + 1)
        L = anp.concatenate([anp.zeros((k, 1), x.dtype), l], axis=1)[:, index]
        xc = data[None, :, :] - means[:, None, :]
        # matmul, not einsum: NumPy's einsum does not reach BLAS here (2-5x slower, f and gradient).
        z = anp.exp(q)[:, None, :] * xc + anp.matmul(xc, anp.transpose(L, (0, 2, 1)))
        inner = (alphas + anp.sum(q, axis=1))[:, None] - 0.5 * anp.sum(z**2, axis=2)
        prior = 0.5 * wishart_gamma**2 * (anp.sum(anp.exp(2 * q)) + anp.sum(l**2)) - wishart_m * anp.sum(q)
        return (
            anp.sum(logsumexp(inner, axis=0))
            - n * logsumexp(alphas)
            - prior_sign * prior
            + _gmm_constant(n, d, k, wishart_gamma, wishart_m, prior_sign)
        )

    def lstm(x, state, sequence):
        layers, b = state.shape[0] // 2, sequence.shape[1]
        main = anp.reshape(x[: 8 * layers * b], (2 * layers, 4 * b))
        extra = anp.reshape(x[8 * layers * b :], (3, b))
        hidden, cell = list(state[0::2]), list(state[1::2])
        total = 0.0
        for t in range(sequence.shape[0] - 1):
            v = sequence[t] * extra[0]
            for j in range(layers):
                gates = anp.concatenate([v, hidden[j], v, hidden[j]]) * main[2 * j] + main[2 * j + 1]
                sig = expit(gates[: 3 * b])
                cell[j] = cell[j] * sig[:b] + sig[b : 2 * b] * anp.tanh(gates[3 * b :])
                hidden[j] = v = sig[2 * b :] * anp.tanh(cell[j])
            ypred = v * extra[1] + extra[2]
            total = total + anp.sum(sequence[t + 1] * (ypred - anp.log(anp.sum(anp.exp(ypred)) + 2)))
        return -total / ((sequence.shape[0] - 1) * b)

    def ode(x, steps):
        h = 2.0 / steps
        y = anp.zeros_like(x)

        def rhs(y):
            return anp.concatenate([x[:1], x[1:] * y[:-1]])

        for _ in range(steps):
            y = rk4_step(rhs, y, h)
        return y

    def llsq(x, n_points):
        t = (2.0 * np.arange(n_points) - (n_points - 1.0)) / (n_points - 1.0)
        powers = np.vander(t, x.shape[0], increasing=True)  # constant: NumPy's own products, not traced
        return 0.5 * anp.sum((np.sign(t) - anp.dot(powers, x)) ** 2)

    def mlp(x, inputs, targets):
        W1, b1, W2, b2, W3, b3 = _mlp_params(x, inputs.shape[1], targets.shape[1], anp.split)
        a = anp.tanh(anp.dot(inputs, W1) + b1)
        a = anp.tanh(anp.dot(a, W2) + b2)
        z = anp.dot(a, W3) + b3
        return anp.mean(logsumexp(z, axis=1) - anp.sum(targets * z, axis=1))

    return dict(
        basic=basic, loss=loss, control_loop=control_loop, tall=tall, gmm=gmm, lstm=lstm, ode=ode, mlp=mlp, llsq=llsq
    )


def tensorflow_twins() -> dict[str, Callable[..., Any]]:
    import tensorflow as tf

    def basic(x):
        return tf.stack([tf.sin(x[0] / x[1]) + x[1] ** 2, x[0] ** 2 - x[1] ** 2, x[0] ** 3])

    def loss(x, x_star):
        return tf.sin(tf.exp(tf.tensordot(x_star, x, 1) / math.sqrt(x.shape[0])))

    def control_loop(z, k):
        return tf.reduce_sum(tf.while_loop(lambda i, z: i < k, lambda i, z: (i + 1, tf.sin(z**2)), (0, z))[1])

    def tall(x, W):
        return tf.tanh(tf.linalg.matvec(W, x))

    def gmm(x, data, wishart_gamma, wishart_m, prior_sign=1):
        n, d = data.shape
        k = _gmm_sizes(x.shape[0], d)
        alphas, means, icf = x[:k], tf.reshape(x[k : k + k * d], (k, d)), tf.reshape(x[k + k * d :], (k, -1))
        q, l = icf[:, :d], icf[:, d:]
        cols, rows = np.triu_indices(d, 1)  # the strictly lower entries, column by column
        # TensorFlow's index assignment: scatter the entries into a (d, d, k) tensor, then move k first.
        L = tf.transpose(tf.scatter_nd(np.stack([rows, cols], axis=1), tf.transpose(l), (d, d, k)), (2, 0, 1))
        xc = data[None, :, :] - means[:, None, :]
        z = tf.exp(q)[:, None, :] * xc + tf.einsum("kij,knj->kni", L, xc)
        inner = (alphas + tf.reduce_sum(q, axis=1))[:, None] - 0.5 * tf.reduce_sum(z**2, axis=2)
        prior = 0.5 * wishart_gamma**2 * (
            tf.reduce_sum(tf.exp(2 * q)) + tf.reduce_sum(l**2)
        ) - wishart_m * tf.reduce_sum(q)
        return (
            tf.reduce_sum(tf.reduce_logsumexp(inner, axis=0))
            - n * tf.reduce_logsumexp(alphas)
            - prior_sign * prior
            + _gmm_constant(n, d, k, wishart_gamma, wishart_m, prior_sign)
        )

    def lstm(x, state, sequence):
        layers, b = state.shape[0] // 2, sequence.shape[1]
        main = tf.reshape(x[: 8 * layers * b], (2 * layers, 4 * b))
        extra = tf.reshape(x[8 * layers * b :], (3, b))

        def step(carry, symbols):
            hidden, cell, _ = carry
            inp, target = symbols
            v = inp * extra[0]
            hs, cs = [], []
            for j in range(layers):
                gates = tf.concat([v, hidden[j], v, hidden[j]], 0) * main[2 * j] + main[2 * j + 1]
                f, i, o = tf.split(tf.sigmoid(gates[: 3 * b]), 3)
                c = cell[j] * f + i * tf.tanh(gates[3 * b :])
                v = o * tf.tanh(c)
                hs.append(v)
                cs.append(c)
            ypred = v * extra[1] + extra[2]
            ynorm = ypred - tf.math.log(tf.reduce_sum(tf.exp(ypred)) + 2)
            return tf.stack(hs), tf.stack(cs), tf.reduce_sum(target * ynorm)

        init = (state[0::2], state[1::2], tf.zeros((), x.dtype))
        totals = tf.scan(step, (sequence[:-1], sequence[1:]), initializer=init)[2]
        return -tf.reduce_sum(totals) / ((sequence.shape[0] - 1) * b)

    def ode(x, steps):
        h = 2.0 / steps

        def rhs(y):
            return tf.concat([x[:1], x[1:] * y[:-1]], 0)

        def step(y, _):
            return rk4_step(rhs, y, h)

        return tf.foldl(step, tf.range(steps), initializer=tf.zeros_like(x))

    def mlp(x, inputs, targets):
        W1, b1, W2, b2, W3, b3 = _mlp_params(x, inputs.shape[1], targets.shape[1], _edges_split)
        a = tf.tanh(inputs @ W1 + b1)
        a = tf.tanh(a @ W2 + b2)
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=a @ W3 + b3))

    return dict(basic=basic, loss=loss, control_loop=control_loop, tall=tall, gmm=gmm, lstm=lstm, ode=ode, mlp=mlp)


def _edges_split(x, edges):
    """x cut at ``edges`` by slicing (tf.split takes sizes, not edges)."""
    bounds = [0, *edges, x.shape[0]]
    return [x[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def mlx_twins() -> dict[str, Callable[..., Any]]:
    import mlx.core as mx

    def basic(x):
        return mx.stack([mx.sin(x[0] / x[1]) + x[1] ** 2, x[0] ** 2 - x[1] ** 2, x[0] ** 3])

    def loss(x, x_star):
        return mx.sin(mx.exp(x_star @ x / math.sqrt(x.shape[0])))

    def control_loop(z, k):
        for _ in range(k):  # MLX has no loop construct: its users write Python loops (the graph is lazy)
            z = mx.sin(z**2)
        return mx.sum(z)

    def tall(x, W):
        return mx.tanh(W @ x)

    def gmm(x, data, wishart_gamma, wishart_m, prior_sign=1):
        n, d = data.shape
        k = _gmm_sizes(x.shape[0], d)
        alphas, means, icf = x[:k], x[k : k + k * d].reshape(k, d), x[k + k * d :].reshape(k, -1)
        q, l = icf[:, :d], icf[:, d:]
        cols, rows = np.triu_indices(d, 1)  # the strictly lower entries, column by column
        L = mx.zeros((k, d, d), dtype=x.dtype)
        L[:, mx.array(rows), mx.array(cols)] = l
        xc = data[None, :, :] - means[:, None, :]
        z = mx.exp(q)[:, None, :] * xc + mx.einsum("kij,knj->kni", L, xc)
        inner = (alphas + q.sum(axis=1))[:, None] - 0.5 * mx.sum(z**2, axis=2)
        prior = 0.5 * wishart_gamma**2 * (mx.sum(mx.exp(2 * q)) + mx.sum(l**2)) - wishart_m * mx.sum(q)
        return (
            mx.sum(mx.logsumexp(inner, axis=0))
            - n * mx.logsumexp(alphas)
            - prior_sign * prior
            + _gmm_constant(n, d, k, wishart_gamma, wishart_m, prior_sign)
        )

    def lstm(x, state, sequence):
        layers, b = state.shape[0] // 2, sequence.shape[1]
        main = x[: 8 * layers * b].reshape(2 * layers, 4 * b)
        extra = x[8 * layers * b :].reshape(3, b)
        hidden, cell = [state[2 * j] for j in range(layers)], [state[2 * j + 1] for j in range(layers)]
        total = 0.0
        for t in range(sequence.shape[0] - 1):
            v = sequence[t] * extra[0]
            for j in range(layers):
                gates = mx.concatenate([v, hidden[j], v, hidden[j]]) * main[2 * j] + main[2 * j + 1]
                f, i, o = mx.split(mx.sigmoid(gates[: 3 * b]), 3)
                cell[j] = cell[j] * f + i * mx.tanh(gates[3 * b :])
                hidden[j] = v = o * mx.tanh(cell[j])
            ypred = v * extra[1] + extra[2]
            total = total + mx.sum(sequence[t + 1] * (ypred - mx.log(mx.sum(mx.exp(ypred)) + 2)))
        return -total / ((sequence.shape[0] - 1) * b)

    def ode(x, steps):
        h = 2.0 / steps
        y = mx.zeros_like(x)

        def rhs(y):
            return mx.concatenate([x[:1], x[1:] * y[:-1]])

        for _ in range(steps):
            y = rk4_step(rhs, y, h)
        return y

    def mlp(x, inputs, targets):
        W1, b1, W2, b2, W3, b3 = _mlp_params(x, inputs.shape[1], targets.shape[1], mx.split)
        a = mx.tanh(inputs @ W1 + b1)
        a = mx.tanh(a @ W2 + b2)
        z = a @ W3 + b3
        return mx.mean(mx.logsumexp(z, axis=1) - mx.sum(targets * z, axis=1))

    return dict(basic=basic, loss=loss, control_loop=control_loop, tall=tall, gmm=gmm, lstm=lstm, ode=ode, mlp=mlp)


# -- frameworks: how their users build f and its derivative from a twin ------------------------------------
class Framework:
    """One framework as the twins' users call it, beside the adbench backend it is measured against.

    ``build`` is the one scaffolding every framework shares: x and the constants placed as the framework's arrays
    (``tensor``), f bound to them, its derivative (``derivative``) and both compiled (``compile``) where the
    framework's users compile. Where they trace (``traced``: jax.jit, tf.function) the arrays are the compiled
    calls' arguments and the Python numbers static; elsewhere f closes over the constants."""

    name: str
    backend: str  # the adbench backend timed beside the twin
    twins: Callable[[], dict[str, Callable[..., Any]]]
    modes = ("forward", "reverse")  # a vector f's Jacobian modes, where the backend has both
    dtypes = ("float32", "float64")  # the dtypes it is measured in, of those asked for
    check_dtype = "float64"  # the twin is checked equal to the registry's problem in this dtype
    check_rtol = CHECK_RTOL
    traced = False
    sync: Callable[[Any], Any] | None = None

    def setup(self, dtypes: list[str]) -> None:
        """Start the framework (threads, precision switches) before anything is built."""

    def tensor(self, a: np.ndarray, dtype: str) -> Any:
        """A float array as the framework's array in ``dtype``; any other keeps its own dtype."""
        raise NotImplementedError

    def derivative(self, f: Callable[..., Any], scalar: bool, mode: str) -> Callable[..., Any]:
        """f's gradient (``scalar``) or Jacobian in ``mode``, taking f's arguments, as the framework's users
        write it."""
        raise NotImplementedError

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    def to_numpy(self, out: Any) -> np.ndarray:
        return np.asarray(out)

    def place(self, x: np.ndarray, consts: dict, dtype: str) -> tuple[Any, dict]:
        """x and the constants as the framework's arrays (Python numbers kept)."""
        return self.tensor(x, dtype), {
            k: self.tensor(v, dtype) if isinstance(v, np.ndarray) else v for k, v in consts.items()
        }

    def build(self, twin, x: np.ndarray, consts: dict, dtype: str, scalar: bool, mode: str):
        """(f call, derivative call, sync, to_numpy) for the twin, each a zero-argument callable."""
        xv, placed = self.place(x, consts, dtype)
        if not self.traced:

            def f(v):
                return twin(v, **placed)

            der = self.derivative(f, scalar, mode)
            return lambda: f(xv), lambda: der(xv), self.sync, self.to_numpy
        arrays = {k: v for k, v in placed.items() if isinstance(consts[k], np.ndarray)}
        static = {k: v for k, v in placed.items() if k not in arrays}

        def f(v, a):
            return twin(v, **a, **static)

        fun, der = self.compile(f), self.compile(self.derivative(f, scalar, mode))
        return lambda: fun(xv, arrays), lambda: der(xv, arrays), self.sync, self.to_numpy

    def derivative_name(self, scalar: bool, mode: str) -> str:
        return "gradient" if scalar else f"jacobian ({mode})"


class JaxFramework(Framework):
    name, backend = "jax", "jax"
    twins = staticmethod(jax_twins)
    traced = True

    def setup(self, dtypes):
        import jax

        # As the backend does for float64 runs; float32 arrays stay float32 under it (tested).
        jax.config.update("jax_enable_x64", "float64" in dtypes)

    def tensor(self, a, dtype):
        import jax.numpy as jnp

        return jnp.asarray(a, dtype=dtype if a.dtype.kind == "f" else a.dtype)

    def derivative(self, f, scalar, mode):
        import jax

        return (jax.grad if scalar else {"forward": jax.jacfwd, "reverse": jax.jacrev}[mode])(f)

    def compile(self, fn):
        import jax

        return jax.jit(fn)

    @property
    def sync(self):
        import jax

        return jax.block_until_ready


class TorchFuncFramework(Framework):
    name, backend = "torch", "torch"
    twins = staticmethod(torch_twins)

    def setup(self, dtypes):
        import torch

        torch.set_num_threads(1)

    def tensor(self, a, dtype):
        import torch

        return torch.tensor(a, dtype=getattr(torch, dtype) if a.dtype.kind == "f" else None)

    def derivative(self, f, scalar, mode):
        import torch

        return (torch.func.grad if scalar else {"forward": torch.func.jacfwd, "reverse": torch.func.jacrev}[mode])(f)

    def to_numpy(self, out):
        return out.detach().numpy()


class TorchBackwardFramework(TorchFuncFramework):
    """PyTorch as most of its users differentiate: .backward() on a leaf that requires grad."""

    name, backend = "torch-backward", "torch-autograd"
    modes = ("reverse",)

    def build(self, twin, x, consts, dtype, scalar, mode):
        import torch

        xt, c = self.place(x, consts, dtype)

        def gradient():
            v = xt.detach().requires_grad_()
            twin(v, **c).backward()
            return v.grad

        def jacobian():
            v = xt.detach().requires_grad_()
            y = twin(v, **c)
            rows = []
            for i in range(y.shape[0]):
                y[i].backward(retain_graph=True)
                rows.append(v.grad.clone())
                v.grad.zero_()
            return torch.stack(rows)

        return lambda: twin(xt, **c), gradient if scalar else jacobian, None, self.to_numpy


class AutogradFramework(Framework):
    name, backend = "autograd", "autograd"
    twins = staticmethod(autograd_twins)
    modes = ("reverse",)  # autograd's users take Jacobians with autograd.jacobian

    def tensor(self, a, dtype):
        return a.astype(dtype) if a.dtype.kind == "f" else a

    def derivative(self, f, scalar, mode):
        import autograd

        return autograd.grad(f) if scalar else autograd.jacobian(f)


class TorchCompileFramework(TorchFuncFramework):
    """torch.compile over torch.func, twin and written-once alike (a compile per call; asked for by name)."""

    name, backend = "torch-compile", "torch-compile"

    def build(self, twin, x, consts, dtype, scalar, mode):
        import torch

        torch._dynamo.reset()
        f_call, d_call, sync, to_numpy = super().build(twin, x, consts, dtype, scalar, mode)
        return (
            torch.compile(f_call, fullgraph=True, dynamic=False),
            torch.compile(d_call, fullgraph=True, dynamic=False),
            sync,
            to_numpy,
        )


class TensorflowFramework(Framework):
    """TensorFlow as its users differentiate: tf.GradientTape (tape.gradient, tape.jacobian) and, forward,
    tf.autodiff.ForwardAccumulator over a tf.vectorized_map of the basis, each inside tf.function."""

    name, backend = "tensorflow", "tensorflow"
    twins = staticmethod(tensorflow_twins)
    traced = True
    jit_compile = False

    def setup(self, dtypes):
        from adbench.backends.tensorflow_backend import import_tensorflow

        import_tensorflow(1)  # quiet, one intra- and one inter-op thread, as the backend's workers

    def tensor(self, a, dtype):
        import tensorflow as tf

        return tf.constant(a, dtype=dtype if a.dtype.kind == "f" else None)

    def derivative(self, f, scalar, mode):
        import tensorflow as tf

        def gradient(v, a):
            with tf.GradientTape() as tape:
                tape.watch(v)
                y = f(v, a)
            return tape.gradient(y, v)

        def jacobian_reverse(v, a):
            with tf.GradientTape() as tape:
                tape.watch(v)
                y = f(v, a)
            return tape.jacobian(y, v)

        def jacobian_forward(v, a):
            def column(t):
                with tf.autodiff.ForwardAccumulator(v, t) as acc:
                    y = f(v, a)
                return acc.jvp(y)

            return tf.transpose(tf.vectorized_map(column, tf.eye(v.shape[0], dtype=v.dtype)))

        return gradient if scalar else {"forward": jacobian_forward, "reverse": jacobian_reverse}[mode]

    def compile(self, fn):
        import tensorflow as tf

        return tf.function(fn, jit_compile=self.jit_compile)

    def to_numpy(self, out):
        return np.asarray(out.numpy())


class MlxFramework(Framework):
    """MLX as its users differentiate: mx.grad, and mx.vmap of mx.jvp / mx.vjp over the basis for Jacobians
    (MLX has no jacfwd or jacrev); lazy, so a call is evaluated by mx.eval."""

    name, backend = "mlx", "mlx"
    twins = staticmethod(mlx_twins)
    dtypes = ("float32",)  # the backend refuses float64 (float32-accurate transcendentals on this CPU)
    # Checked in float32 against the backend's float32 (there is no float64 to check in): rounding of
    # reordered float32 sums and of long recurrences (ode's 1000 RK4 steps, lstm's sequence), eps 6e-8 times
    # up to ~1e3 accumulated operations, relative to max|value|; a wrong twin misses by O(1).
    check_dtype = "float32"
    check_rtol = {"f": 1e-4, "derivative": 1e-4}

    def setup(self, dtypes):
        import mlx.core as mx

        mx.set_default_device(mx.cpu)

    def tensor(self, a, dtype):
        import mlx.core as mx

        return mx.array(a, dtype=getattr(mx, dtype)) if a.dtype.kind == "f" else a

    def derivative(self, f, scalar, mode):
        import mlx.core as mx

        if scalar:
            return mx.grad(f)
        if mode == "forward":
            return lambda v: mx.vmap(lambda t: mx.jvp(f, [v], [t])[1][0])(mx.eye(v.shape[0], dtype=v.dtype)).T
        return lambda v: mx.vmap(lambda u: mx.vjp(f, [v], [u])[1][0])(mx.eye(f(v).shape[0], dtype=v.dtype))

    @property
    def sync(self):
        import mlx.core as mx

        return mx.eval

    def to_numpy(self, out):
        return np.array(out, copy=True)


FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        JaxFramework(),
        TorchFuncFramework(),
        TorchBackwardFramework(),
        AutogradFramework(),
        TorchCompileFramework(),
        TensorflowFramework(),
        MlxFramework(),
    )
}
DEFAULT_FRAMEWORKS = ("jax", "torch", "torch-backward", "autograd")


# -- measuring one cell, in the framework's worker -------------------------------------------------------
@dataclass
class Cell:
    problem: str
    size: int
    dtype: str
    framework: str
    derivative: str
    call: str = ""  # adbench's derivative call (the record's `call`)
    f_adbench_s: float = math.nan
    f_twin_s: float = math.nan
    f_ratio: float = math.nan
    f_ratio_lo: float = math.nan
    f_ratio_hi: float = math.nan
    d_adbench_s: float = math.nan
    d_twin_s: float = math.nan
    d_ratio: float = math.nan
    d_ratio_lo: float = math.nan
    d_ratio_hi: float = math.nan
    # A/A: the twin's derivative against a second build of itself, in the same interleaving: the noise
    # floor of the cell (a ratio of identical code).
    aa_ratio: float = math.nan
    aa_ratio_lo: float = math.nan
    aa_ratio_hi: float = math.nan
    f_rel_diff: float = math.nan
    d_rel_diff: float = math.nan
    rounds: int = 0
    error: str = ""


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return math.inf
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return float(np.max(np.abs(a - b)) / (scale or 1.0)) if b.size else 0.0


def paired_ratio(a: list[float], b: list[float], seed: int = 0) -> tuple[float, float, float]:
    """The median of per-round ratios a_i / b_i and its 95 % percentile-bootstrap interval over rounds."""
    r = np.asarray(a) / np.asarray(b)
    rng = np.random.default_rng(seed)
    boots = np.median(r[rng.integers(0, r.size, size=(2000, r.size))], axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(np.median(r)), float(lo), float(hi)


def interleaved(calls: list[tuple[Callable[[], Any], Any]]) -> list[list[float]]:
    """Seconds per call, per round, of each (call, sync): calibrated blocks taken round by round,
    in an order reversed every other round."""
    from adbench.engine.timing import calibrate, time_block

    numbers = [calibrate(call, sync, SAMPLE_S)[0] for call, sync in calls]
    samples: list[list[float]] = [[] for _ in calls]
    gc_was = gc.isenabled()
    gc.disable()
    try:
        import time

        start = time.perf_counter()
        rounds = 0
        while rounds < ROUNDS[1] and (rounds < ROUNDS[0] or time.perf_counter() - start < CELL_BUDGET_S):
            order = range(len(calls)) if rounds % 2 == 0 else reversed(range(len(calls)))
            for i in order:
                call, sync = calls[i]
                samples[i].append(time_block(call, sync, numbers[i]))
            rounds += 1
    finally:
        if gc_was:
            gc.enable()
    return samples


def measure_cell(framework: Framework, twins: dict, problem_name: str, n: int, dtype: str, mode: str) -> Cell:
    """Check the twin equal to the registry's problem (in float64, or the framework's check_dtype), then time both
    sides in ``dtype``."""
    from adbench.backends import get_backend
    from adbench.problems import get_problem

    problem = get_problem(problem_name)
    scalar = problem.is_scalar(n)
    cell = Cell(problem_name, n, dtype, framework.name, framework.derivative_name(scalar, mode))
    try:
        backend = get_backend(framework.backend)
        x = problem.inputs(n)
        consts = problem.constants(x)
        twin = twins[problem_name]

        def sides(dt):
            case = backend.prepare(problem, x, "jacobian", mode, dt, consts)
            mine = framework.build(twin, x, consts, dt, scalar, mode)
            return case, mine

        checked = framework.check_dtype
        case, (tf, td, tsync, tnp) = sides(checked)
        cell.f_rel_diff = rel_diff(tnp(_synced(tf, tsync)), case.to_numpy(_synced(case.function, case.sync)))
        cell.d_rel_diff = rel_diff(tnp(_synced(td, tsync)), case.run())
        for what, diff in (("f", cell.f_rel_diff), ("derivative", cell.d_rel_diff)):
            if not diff <= framework.check_rtol[what]:
                raise AssertionError(
                    f"the twin's {what} differs from the registry's by {diff:.1e} ({checked}) "
                    f"> {framework.check_rtol[what]:.0e}"
                )
        case, (tf, td, tsync, _) = sides(dtype) if dtype != checked else (case, (tf, td, tsync, tnp))
        cell.call = case.label
        td_again = framework.build(twin, x, consts, dtype, scalar, mode)[1]
        calls = [(case.function, case.sync), (tf, tsync), (case.call, case.sync), (td, tsync), (td_again, tsync)]
        for call, sync in calls:
            _synced(call, sync)  # first calls (traces, compiles) before any timing
        fa, ft, da, dt_, dt_again = interleaved(calls)
        cell.aa_ratio, cell.aa_ratio_lo, cell.aa_ratio_hi = paired_ratio(dt_again, dt_)
        cell.rounds = len(fa)
        cell.f_adbench_s, cell.f_twin_s = float(np.median(fa)), float(np.median(ft))
        cell.d_adbench_s, cell.d_twin_s = float(np.median(da)), float(np.median(dt_))
        cell.f_ratio, cell.f_ratio_lo, cell.f_ratio_hi = paired_ratio(fa, ft)
        cell.d_ratio, cell.d_ratio_lo, cell.d_ratio_hi = paired_ratio(da, dt_)
    except Exception as exc:  # noqa: BLE001 (one failing cell never loses the others)
        cell.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    return cell


def _synced(call, sync):
    out = call()
    if sync is not None:
        sync(out)
    return out


def worker(framework_name: str, plan: list[dict]) -> None:
    """Measure ``plan``'s cells for one framework, in this process, printing one JSON line per cell."""
    framework = FRAMEWORKS[framework_name]
    framework.setup(sorted({p["dtype"] for p in plan}))
    twins = framework.twins()
    for p in plan:
        if p["problem"] not in twins:  # nothing to compare with: said once, not a failed cell
            print(json.dumps({"no_twin": p["problem"]}), flush=True)
            continue
        cell = measure_cell(framework, twins, p["problem"], p["size"], p["dtype"], p["mode"])
        print(json.dumps(asdict(cell)), flush=True)


# -- the parent: a worker per framework, one thread, then the table ------------------------------------------
def plan_for(framework: Framework, problems: list[str], dtypes: list[str], quick: bool) -> list[dict]:
    from adbench.backends import get_backend
    from adbench.problems import get_problem

    backend = get_backend(framework.backend)
    plan = []
    for name in problems:
        problem = get_problem(name)
        sizes = problem.run_sizes if quick else SIZES.get(name, problem.run_sizes)
        for n in sizes:
            modes = (
                ("reverse",)
                if problem.is_scalar(n)
                else [m for m in framework.modes if m in backend.modes_for("jacobian")]
            )
            # float64 where it is cheap: at the default-run sizes.
            kept = [dt for dt in dtypes if (dt == "float32" or n in problem.run_sizes) and dt in framework.dtypes]
            plan += [{"problem": name, "size": n, "dtype": dt, "mode": m} for dt in kept for m in modes]
    return plan


def run_worker(framework: str, plan: list[dict], timeout: float) -> tuple[list[Cell], set[str]]:
    """The framework's cells, measured in a worker of their own, and the problems it has no native twin for."""
    from adbench.engine.threads import cpus_for, worker_environment

    env = worker_environment(1, base=dict(os.environ), device="cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    cpus = sorted(cpus_for(1))
    command = [sys.executable, __file__, "--worker", framework, "--plan", json.dumps(plan)]
    if cpus and hasattr(os, "sched_setaffinity"):
        command = ["taskset", "-c", str(cpus[0]), *command]
    cells, no_twin = [], set()
    try:
        out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
        lines, err = out.stdout, out.stderr if out.returncode else ""
    except subprocess.TimeoutExpired as exc:
        lines = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"worker timed out after {timeout:.0f} s"
    for line in lines.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if "no_twin" in entry:
                no_twin.add(entry["no_twin"])
            else:
                cells.append(Cell(**entry))
    if err:
        done = {(c.problem, c.size, c.dtype, c.derivative) for c in cells}
        for p in (p for p in plan if p["problem"] not in no_twin):
            cell = Cell(
                p["problem"],
                p["size"],
                p["dtype"],
                framework,
                FRAMEWORKS[framework].derivative_name(_scalar(p), p["mode"]),
            )
            if (cell.problem, cell.size, cell.dtype, cell.derivative) not in done:
                cell.error = err.strip().splitlines()[-1][:300] if err.strip() else "worker died"
                cells.append(cell)
    return cells, no_twin


def _scalar(p: dict) -> bool:
    from adbench.problems import get_problem

    return get_problem(p["problem"]).is_scalar(p["size"])


def fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return ""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def fmt_ratio(r: float, lo: float, hi: float, flag: bool = True) -> str:
    if not math.isfinite(r):
        return ""
    mark = " ✗" if flag and lo > TARGET else ""
    return f"{r:.2f}× [{lo:.2f}, {hi:.2f}]{mark}"


def table(cells: list[Cell]) -> str:
    import pandas as pd

    from adbench.problems import get_problem

    rows = []
    for c in cells:
        problem = get_problem(c.problem)
        rows.append(
            {
                "problem": f"{c.problem} {problem.size_label(c.size)}",
                "dtype": c.dtype,
                "framework": c.framework,
                "f: adbench / twin": fmt_ratio(c.f_ratio, c.f_ratio_lo, c.f_ratio_hi),
                "f twin": fmt_time(c.f_twin_s),
                "derivative": c.derivative,
                "derivative: adbench / twin": fmt_ratio(c.d_ratio, c.d_ratio_lo, c.d_ratio_hi),
                "derivative twin": fmt_time(c.d_twin_s),
                "A/A (twin / twin)": fmt_ratio(c.aa_ratio, c.aa_ratio_lo, c.aa_ratio_hi, flag=False),
                "float64 check": f"{max(c.f_rel_diff, c.d_rel_diff):.0e}" if math.isfinite(c.d_rel_diff) else "",
                "error": c.error,
            }
        )
    frame = pd.DataFrame(rows)
    if not frame["error"].any():
        frame = frame.drop(columns="error")
    return frame.to_markdown(index=False)


def compact_table(cells: list[Cell]) -> str:
    """One row per problem, size, dtype and derivative, one column per framework: "f · derivative · A/A",
    f's ratio and the derivative's, each with its 95 % interval, and the cell's A/A ratio (the noise floor)."""
    import pandas as pd

    from adbench.problems import get_problem

    def short(r: float, lo: float, hi: float) -> str:
        return f"{r:.2f} [{lo:.2f}–{hi:.2f}]{' ✗' if lo > TARGET else ''}"

    frameworks = list(dict.fromkeys(c.framework for c in cells))
    rows: dict[tuple, dict] = {}
    for c in cells:
        label = get_problem(c.problem).size_label(c.size).replace("the tutorial's point ", "")
        key = (f"{c.problem} {label}", c.dtype, c.derivative)
        row = rows.setdefault(key, {"problem": key[0], "dtype": c.dtype, "derivative": c.derivative})
        row[c.framework] = (
            c.error[:60]
            if c.error
            else f"{short(c.f_ratio, c.f_ratio_lo, c.f_ratio_hi)} · "
            f"{short(c.d_ratio, c.d_ratio_lo, c.d_ratio_hi)} · {c.aa_ratio:.2f}"
        )
    return (
        pd.DataFrame(list(rows.values()), columns=["problem", "dtype", "derivative", *frameworks])
        .fillna("")
        .to_markdown(index=False)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", default="", help="comma-separated (default: every registered problem)")
    parser.add_argument(
        "--frameworks", default=",".join(DEFAULT_FRAMEWORKS), help=f"comma-separated, of {', '.join(FRAMEWORKS)}"
    )
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--quick", action="store_true", help="the default-run size of each problem, float32")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per framework's worker")
    parser.add_argument("--output", help="write the cells as JSON lines here too")
    parser.add_argument(
        "--table",
        metavar="FILE",
        help="measure nothing: print the compact table (a column per "
        "framework, as the README carries it) of the cells saved in FILE by --output",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, json.loads(args.plan))
        return 0
    if args.table:
        print(compact_table([Cell(**json.loads(line)) for line in Path(args.table).read_text().splitlines() if line]))
        return 0
    from adbench.problems import get_problem, list_problems

    problems = [p for p in args.problems.split(",") if p] or [p.name for p in list_problems() if p.builtin]
    for name in problems:
        get_problem(name)  # an unknown name fails here, listing the valid ones
    frameworks = [f for f in args.frameworks.split(",") if f]
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        parser.error(f"unknown framework {unknown[0]!r}; valid choices: {', '.join(FRAMEWORKS)}")
    dtypes = ["float32"] if args.quick and args.dtypes == "float32,float64" else args.dtypes.split(",")
    cells: list[Cell] = []
    untwinned: dict[str, list[str]] = {}
    for framework in frameworks:
        plan = plan_for(FRAMEWORKS[framework], problems, dtypes, args.quick)
        print(f"{framework}: {len(plan)} cells ...", file=sys.stderr, flush=True)
        measured_here, no_twin = run_worker(framework, plan, args.timeout)
        cells += measured_here
        for name in sorted(no_twin, key=problems.index):
            untwinned.setdefault(name, []).append(framework)
    order = {name: i for i, name in enumerate(problems)}
    cells.sort(key=lambda c: (order[c.problem], c.size, c.dtype, frameworks.index(c.framework), c.derivative))
    if args.output:
        Path(args.output).write_text("".join(json.dumps(asdict(c)) + "\n" for c in cells))
    print(table(cells))
    measured = [c for c in cells if not c.error]
    over = [c for c in measured if c.f_ratio_lo > TARGET or c.d_ratio_lo > TARGET]
    print(
        f"\n{len(measured)} cells measured, {len(cells) - len(measured)} failed; "
        f"{len(over)} with f or derivative resolved above {TARGET}x the twin (✗). Ratio: adbench's time over the "
        f"twin's, median of per-round ratios [95 % bootstrap interval]; one thread, interleaved."
    )
    if untwinned:
        print(
            "no native twin written yet (not measured): "
            + "; ".join(f"{p} ({', '.join(f)})" for p, f in untwinned.items())
        )
    return 1 if len(measured) < len(cells) else 0


if __name__ == "__main__":
    sys.exit(main())
