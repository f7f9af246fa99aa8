"""Imports the frameworks ahead of time, for asv's forkserver; holds no benchmark.

With ``"launch_method": "forkserver"`` asv imports every module of the suite once in a server
process and forks a child per benchmark, so what is imported here is paid once per run instead
of once per benchmark (jax and torch take about 1 and 2 s to import here). With ``spawn`` only a
benchmark's own module is imported, so this costs nothing there.

Only imports: nothing here starts a thread (XLA's client, torch's OpenMP pool start on first
use, in the child), so forking stays safe; tests/test_asv_suite.py checks that.
"""

from __future__ import annotations

import importlib

from adbench.backends import backend_names, get_backend

# Imported lazily by the frameworks on first use, and worth preloading: the first
# torch.func.jacrev imports torch._dynamo (about 800 modules, 1.3 s here).
LAZY_SUBMODULES = ("jax.numpy", "autograd.numpy", "torch.func", "torch._dynamo")

for _name in backend_names():
    try:
        get_backend(_name).load()  # no thread count: torch.set_num_threads belongs to the child
    except Exception:  # a missing or broken framework: its cases skip in their own set-up
        pass
for _module in LAZY_SUBMODULES:
    try:
        importlib.import_module(_module)
    except Exception:
        pass
