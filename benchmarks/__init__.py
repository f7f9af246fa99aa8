"""adbench's airspeed velocity suite: a thin layer over the registry (see docs/asv.md).

asv imports this package first in every process it benchmarks in (and in the forkserver that
forks them), so the thread variables are set here, before any framework loads, by the very
function that sets them for `adbench compare`'s workers. ``ADBENCH_THREADS`` (default 1) picks the
count. Importing ``adbench.engine.threads`` loads neither NumPy nor a framework (``import adbench`` is
lazy). asv itself imports NumPy before this package, via pympler, so NumPy's BLAS is also limited
at run time: see ``_common.pin_threads``.
"""

from __future__ import annotations

import os

from adbench.engine.threads import worker_environment

THREADS = int(os.environ.get("ADBENCH_THREADS", "1"))

# device=None: JAX may see every platform, and each case places its arrays on its own device
# parameter (a cpu case on the CPU even with a CUDA jaxlib).
os.environ.update(worker_environment(THREADS, base=dict(os.environ), device=None))
