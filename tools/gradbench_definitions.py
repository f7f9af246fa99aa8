"""gradbench's definitions in adbench: the figures of issue 28's items 2 and 3, printed.

    python tools/gradbench_definitions.py            # all three figures
    python tools/gradbench_definitions.py --skip-timing

1. gmm's objective against SciPy's densities: |gmm - (log-likelihood + log Wishart prior)| and the ADBench
   variant (prior_sign=-1) against log-likelihood - log prior, absolute and relative, at small points.
2. llsq's gradient on every installed backend against the float64 hand-written one at odd and even N (max
   relative difference per backend), and, for contrast, the grid as adbench spelled it before (gradbench's
   -1 + 2i/(N - 1), i counted from x) under jax.jit.
3. JAX's llsq (f and gradient) over a native cumulative-product twin in gradbench's style: tools/fidelity.py's
   paired ratio (median of per-round ratios, 95 % bootstrap interval, one thread, interleaved), at m = 128 and 512.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GMM_POINTS = [(2, 3, 1, 1.0, 0), (3, 4, 7, 1.3, 2), (5, 2, 11, 0.7, 4), (10, 5, 30, 1.0, 0)]  # D, K, N, gamma, m
LLSQ_N = (41, 40, 1025, 1024)
LLSQ_M = 128


def gmm_figure() -> None:
    from adbench.problems import get_problem
    from adbench.problems.gmm import by_densities

    f = get_problem("gmm").function
    print("1. gmm = log-likelihood + log Wishart prior (scipy.stats multivariate_normal, wishart logpdf)")
    print(
        f"   {'D':>3} {'K':>3} {'N':>4} {'gamma':>5} {'m':>2}  {'gmm':>14} {'abs diff':>9} {'rel diff':>9}"
        f"  {'ADBench variant':>15} {'abs diff':>9} {'rel diff':>9}"
    )
    for d, k, n, gamma, m in GMM_POINTS:
        rng = np.random.default_rng(d * 100 + k)
        x = np.concatenate([rng.standard_normal(k), rng.random(k * d), 0.3 * rng.standard_normal(k * d * (d + 1) // 2)])
        data = rng.standard_normal((n, d))
        likelihood, prior = by_densities(x, data, gamma, m)
        consts = {"data": data, "wishart_gamma": gamma, "wishart_m": m}
        ours, adb = f(x, np, **consts), f(x, np, **consts, prior_sign=-1)
        a, b = abs(ours - (likelihood + prior)), abs(adb - (likelihood - prior))
        print(
            f"   {d:>3} {k:>3} {n:>4} {gamma:>5} {m:>2}  {ours:>14.8g} {a:>9.1e} {a / abs(ours):>9.1e}"
            f"  {adb:>15.8g} {b:>9.1e} {b / abs(adb):>9.1e}"
        )


def llsq_figure() -> None:
    import adbench
    from adbench.backends import backend_info, backend_names, get_backend
    from adbench.problems import get_problem

    problem = get_problem("llsq")
    x = problem.inputs(LLSQ_M)
    backends = [
        b
        for b in backend_names()
        if "reverse" in get_backend(b).modes_for("jacobian") and b not in ("manual", "finite-diff")
    ]
    print(f"\n2. llsq gradient, m = {LLSQ_M}: max |J - J_manual| / max |J_manual| per backend (float64; MLX float32)")
    print("   " + f"{'backend':<38}" + "".join(f"{'N = ' + str(n):>12}" for n in LLSQ_N))
    for b in backends:
        info = backend_info(b)
        if not info.available:
            print(f"   {b:<38}unavailable: {info.reason}")
            continue
        dtype = "float32" if b.startswith("mlx") else "float64"
        cells = []
        for n in LLSQ_N:
            try:
                J = adbench.jacobian("llsq", x, backend=b, mode="reverse", dtype=dtype, n_points=n)
                ref = problem.reference_jacobian(x, n_points=n)
                cells.append(f"{np.max(np.abs(J - ref)) / np.max(np.abs(ref)):>12.1e}")
            except Exception as exc:  # noqa: BLE001  (one failing backend never hides the others)
                cells.append(f"{type(exc).__name__:>12}")
        print(f"   {b:<38}" + "".join(cells))
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def gradbench_grid(v, n):
            # t_i = -1 + 2i/(N - 1) as gradbench's README writes it, i counted from v as adbench's llsq did before
            # (a constant arange would be folded by XLA exactly; a count built from the input is not).
            count = jnp.cumsum(jnp.broadcast_to(jnp.ones_like(v[:1]), (n,))) - 1.0
            t = -1.0 + (count * 2.0) / (n - 1.0)
            T = jnp.cumprod(
                jnp.concatenate([jnp.ones((n, 1)), jnp.broadcast_to(t[:, None], (n, v.shape[0] - 1))], 1), 1
            )
            return 0.5 * jnp.sum((jnp.sign(t) - T @ v) ** 2)

        cells = []
        for n in LLSQ_N:
            g = np.asarray(jax.jit(jax.grad(gradbench_grid), static_argnums=1)(jnp.asarray(x), n))
            ref = problem.reference_jacobian(x, n_points=n)
            cells.append(f"{np.max(np.abs(g - ref)) / np.max(np.abs(ref)):>12.1e}")
        print(f"   {'before: -1 + 2i/(N-1) under jax.jit':<38}" + "".join(cells))
    except ImportError:
        pass


def timing_figure() -> None:
    print(
        "\n3. JAX llsq over a native cumulative-product twin (tools/fidelity.py; machine load affects both sides)",
        flush=True,
    )
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "fidelity.py"),
            "--problems",
            "llsq",
            "--frameworks",
            "jax",
            "--dtypes",
            "float64,float32",
        ],
        check=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-timing", action="store_true", help="figures 1 and 2 only")
    args = parser.parse_args(argv)
    gmm_figure()
    llsq_figure()
    if not args.skip_timing:
        timing_figure()
    return 0


if __name__ == "__main__":
    sys.exit(main())
