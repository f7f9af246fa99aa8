"""Imports the frameworks ahead of time, for asv's forkserver; holds no benchmark.

With ``"launch_method": "forkserver"`` asv imports every module of the suite once in a server
process and forks a child per benchmark, so what is imported here is paid once per run instead
of once per benchmark (jax and torch take about 1 and 2 s to import here). With ``spawn`` only a
benchmark's own module is imported, so this costs nothing there.

Only imports: nothing here starts a thread (XLA's client, torch's OpenMP pool start on first
use, in the child), so forking stays safe; tests/test_asv_suite.py checks that.
"""

from __future__ import annotations

import gc

from adbench.backends import backend_names, get_backend

for _name in backend_names():
    try:
        _backend = get_backend(_name)
        _backend.load()  # no thread count: torch.set_num_threads belongs to the child
        _backend.preload()  # what a first call would import (torch.func's torch._dynamo: 1.3 s)
    except Exception:  # noqa: BLE001 (a missing or broken framework: its cases skip in their own set-up)
        pass

# The imports above leave about 700,000 objects; a forked child's gc.collect() (memory.reset_peak calls it
# before every peak) would walk and write to all of them, copying the server's heap page by page: 0.5 s per
# collection here. Frozen, the collector skips them (they live as long as the server anyway).
gc.freeze()
