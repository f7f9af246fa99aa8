"""TensorFlow imported once, quietly, its thread pools and float32 matmuls set: shared by its backend and
its array namespace (``adbench.xp``), which must not import each other."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null: TensorFlow's C++ libraries print their oneDNN and absl
    banners while they load, before TF_CPP_MIN_LOG_LEVEL is read, and only ``TF_ENABLE_ONEDNN_OPTS=0``
    (a slower build path) would silence them otherwise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow(threads: int | None = None) -> Any:  # the tensorflow module (not followed by mypy)
    """``tensorflow``, imported quietly, its thread pools set before its runtime starts.

    Workers get TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS from adbench.engine.threads; here
    ``threads`` also reaches ``tf.config.threading``, which is what ``build_info`` reads back.
    """
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ INFO and WARNING lines (XLA's "Compiled cluster")
        with _stderr_silenced():
            import tensorflow  # noqa: F401
    import tensorflow as tf

    # Python-side warnings (a pfor fallback, AutoGraph's notes) would land in a dead worker's error.
    tf.get_logger().setLevel("ERROR")
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # the runtime has started (an earlier case): its pools stay as they are
            pass
    # Full float32 matmuls, as every framework's workers are asked for: TF's GPU default is TF32.
    tf.config.experimental.enable_tensor_float_32_execution(False)
    return tf
