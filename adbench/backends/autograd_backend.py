"""HIPS autograd: reverse mode with ``autograd.jacobian``, forward mode with ``make_jvp`` column by column."""

from __future__ import annotations

import numpy as np

from adbench.xp import namespace
from adbench.backends._base import Backend, PreparedCase, convert_constants


class AutogradBackend(Backend):
    name = "autograd"
    framework = "autograd"
    description = "autograd.jacobian (reverse); autograd.make_jvp over the n basis vectors (forward)"
    vectorized = False  # both modes loop over basis vectors in Python

    def load(self, threads=None):
        import autograd

        return autograd

    def version(self):
        from importlib.metadata import version

        return version("autograd")  # the module has no __version__

    def prepare(self, problem, x, mode, dtype, constants):
        autograd = self.load()
        import autograd.numpy as anp

        xv = x.astype(dtype)
        consts = convert_constants(constants, lambda a: a.astype(dtype))

        def f(v):
            return problem.function(v, namespace("autograd"), **consts)

        if mode == "reverse":
            jac = autograd.jacobian(f)
            run = lambda: jac(xv)  # noqa: E731
        else:
            make_jvp = autograd.make_jvp(f)

            def run():
                jvp = make_jvp(xv)
                columns = []
                for i in range(xv.shape[0]):
                    basis = np.zeros_like(xv)  # fresh: a linear f may return its tangent as is
                    basis[i] = 1
                    columns.append(jvp(basis)[1])
                return np.stack(columns, axis=-1)

        return PreparedCase(
            jacobian=run,
            function=lambda: f(xv),
            sync=None,
            to_numpy=np.asarray,
        )
