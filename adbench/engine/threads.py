"""Equal threads for every framework: environment and CPU affinity set before a worker imports anything."""

from __future__ import annotations

import os
from collections.abc import Iterable

from adbench.engine.environment import usable_cpus

# Read by OpenBLAS/MKL (NumPy, autograd), OpenMP (torch's intra-op pool, oneDNN) when their libraries
# load, and by TensorFlow when its runtime starts (its intra- and inter-op pools).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)
DEFAULT_THREADS = 1


def worker_environment(
    threads: int,
    base: dict[str, str] | None = None,
    device: str | None = "cpu",
    compile_cache: str | None = None,
    kept_compiles: str | None = None,
) -> dict[str, str]:
    """The environment for a worker process that should use ``threads`` threads on ``device``
    (None: every device stays visible, for a process whose cases place their own arrays).

    ``compile_cache``: a folder private to one run where JAX and torch.compile keep what they
    compiled, so a case's later rounds skip the compilation its first round measured (and no
    earlier run's cache can make a first call look cheap).

    ``kept_compiles``: the folder kept between runs (``adbench.engine.caches``) where JAX keeps what it
    compiled instead; a first call that loads from it is labelled a cache hit (``first_call_cache``).
    torch.compile and MLX stay in the run's own folder: their hits are not observed, so not kept.
    """
    env = dict(os.environ if base is None else base)
    if compile_cache:
        env["JAX_COMPILATION_CACHE_DIR"] = os.path.join(compile_cache, "jax")
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
        env["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(compile_cache, "inductor")
        # mx.compile on a CPU builds C++ kernels with g++ and keeps them under the temporary folder
        # (<TMPDIR>/mlx/<version>/cpu), across processes: there, the run's own.
        env["TMPDIR"] = compile_cache
    if kept_compiles:
        from adbench.engine.caches import JAX_CACHE_MAX_BYTES

        env["JAX_COMPILATION_CACHE_DIR"] = os.path.join(kept_compiles, "jax")
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
        env["JAX_COMPILATION_CACHE_MAX_SIZE"] = str(JAX_CACHE_MAX_BYTES)
    # Full float32 matmuls for every framework: XLA's default on a recent NVIDIA GPU is TF32 (a
    # 10-bit mantissa, ~1e-3 relative error), torch's is full float32. Set unless the user set it.
    env.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
    if device == "cpu":
        # A CUDA-enabled jaxlib would otherwise put JAX on the GPU beside a CPU torch.
        env["JAX_PLATFORMS"] = "cpu"
    for var in THREAD_VARIABLES:
        env[var] = str(threads)
    # TensorFlow's C++ INFO and WARNING lines (XLA's "Compiled cluster", oneDNN notes) stay out of the
    # stderr a dead worker's error quotes; a CUDA build takes GPU memory as it needs it, not all at start.
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if threads == 1:
        # XLA's CPU client sizes its pool from the affinity mask; this also keeps Eigen's
        # intra-op parallelism off so one thread really means one.
        flags = env.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            env["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    return env


def usable_mask() -> set[int]:
    """The CPUs this process may use (empty where the system does not say)."""
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()


def cpus_for(threads: int) -> set[int]:
    """The first ``threads`` CPUs this process may use: the worker's affinity mask."""
    return set(sorted(usable_mask())[:threads])


def move_process(pid: int, cpus: Iterable[int]) -> None:
    """Pin every thread of process ``pid`` to ``cpus``: sched_setaffinity moves one thread, and a framework's
    pools are threads of their own. A thread started later inherits its creator's mask; the second sweep
    catches one started during the first."""
    if not hasattr(os, "sched_setaffinity"):
        return
    cpus = set(cpus)
    for _ in range(2):
        try:
            threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            threads = [pid]
        for tid in threads:
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:  # the thread ended meanwhile
                pass


def check_threads(threads: int) -> int:
    limit = usable_cpus()
    if not 1 <= threads <= limit:
        raise ValueError(f"--threads must be between 1 and {limit} (the CPUs this process may use), not {threads}")
    return threads
