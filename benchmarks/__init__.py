"""adbench's airspeed velocity suite: a thin layer over the registry (see docs/asv.md).

asv imports this package first in every process it benchmarks in (and in the forkserver that
forks them), so the thread variables are set here, before any framework loads. ``ADBENCH_THREADS``
(default 1) picks the count.

They are spelled out rather than taken from ``adbench.threads.worker_environment``: importing
adbench imports NumPy, whose BLAS reads its variable when it loads. tests/test_asv_suite.py checks
that the two agree. (asv itself imports NumPy before this package, via pympler, so NumPy's BLAS
is also limited at run time: see ``_common.pin_threads``.)
"""

from __future__ import annotations

import os

THREADS = int(os.environ.get("ADBENCH_THREADS", "1"))

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
if THREADS == 1 and "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    # Read when XLA's CPU client starts: keeps its Eigen intra-op pool off, as adbench's workers do.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
