"""JAX: ``jacfwd``/``jacrev`` under ``jax.jit`` (``jax``), and un-jitted as the tutorial runs them (``jax-eager``)."""

from __future__ import annotations

import numpy as np

from adbench.backends._base import Backend, PreparedCase, convert_constants


class JaxBackend(Backend):
    name = "jax"
    framework = "jax"
    description = "jax.jit(jax.jacfwd / jax.jacrev)"
    jit = True

    def load(self, threads=None):
        # Threads are set by adbench.threads before this import (XLA reads them at start-up).
        import jax

        return jax

    def prepare(self, problem, x, mode, dtype, constants):
        jax = self.load()
        if dtype == "float64" and not jax.config.jax_enable_x64:
            # x64 is a process-wide switch; float32 cases stay float32 after it because every
            # input is created with an explicit dtype and problems use only weak Python scalars.
            jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        xj = jnp.asarray(x, dtype=dtype)
        consts = convert_constants(constants, lambda a: jnp.asarray(a, dtype=dtype))
        arrays = {k: v for k, v in consts.items() if not isinstance(v, (int, float))}
        # Python numbers (control_loop's k) are closed over, so jit specialises on them: the loop
        # is unrolled at trace time and a new k means a new compilation.
        static = {k: v for k, v in consts.items() if isinstance(v, (int, float))}

        def f(v, arrays):
            return problem.function(v, jnp, **arrays, **static)

        jac = jax.jacfwd(f) if mode == "forward" else jax.jacrev(f)
        if self.jit:
            jac, f = jax.jit(jac), jax.jit(f)
        return PreparedCase(
            jacobian=lambda: jac(xj, arrays),
            function=lambda: f(xj, arrays),
            sync=jax.block_until_ready,
            to_numpy=np.asarray,
        )


class JaxEagerBackend(JaxBackend):
    name = "jax-eager"
    description = "jax.jacfwd / jax.jacrev without jit, as the tutorial calls them"
    jit = False
