"""What adbench keeps between runs, under the user's cache folder: correctness references and compiled code.

A reference is deterministic (the problem's float64 hand-written derivative, or central differences, at
inputs drawn from a seed), so it is computed once and kept, keyed by everything it depends on. Compiled
code is kept by the frameworks' own persistent caches (JAX's), in a folder of ours; a first call that
loaded its code from there says so (``first_call_cache``), never passed off as a compile.
``ADBENCH_CACHE_DIR`` moves the folder; ``ADBENCH_NO_CACHE=1`` keeps nothing (every run cold, as before).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV, NO_CACHE_ENV = "ADBENCH_CACHE_DIR", "ADBENCH_NO_CACHE"
# JAX's cache keeps every compilation (min time 0: the suite's cases compile in tens of ms) up to this
# size, evicting the least recently used beyond it.
JAX_CACHE_MAX_BYTES = 1 << 30


def cache_root() -> Path | None:
    """The folder adbench keeps things in between runs (platformdirs' user cache folder, which follows
    ``XDG_CACHE_HOME``), or None when ``ADBENCH_NO_CACHE`` is set."""
    if os.environ.get(NO_CACHE_ENV, "") not in ("", "0"):
        return None
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("adbench", appauthor=False))


def compile_cache_dir() -> str | None:
    """Where the frameworks' persistent compile caches live between runs (None: each run its own)."""
    root = cache_root()
    return str(root / "compile") if root is not None else None


# -- references ------------------------------------------------------------------------------------------
@functools.cache
def code_fingerprint() -> str:
    """adbench's version and a digest of the source a reference comes from (the problems, the NumPy
    baselines and the gate): an edited problem or reference never reads an old entry."""
    import adbench

    here = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(str(getattr(adbench, "__version__", "")).encode())
    files = sorted((here / "problems").rglob("*.py")) + [
        here / "backends" / "numpy_baselines.py",
        here / "engine" / "checking.py",
        here / "sparsity.py",
    ]
    for path in files:
        try:
            digest.update(path.name.encode() + path.read_bytes())
        except OSError:
            pass
    return digest.hexdigest()[:16]


def _feed(digest: Any, value: Any) -> None:
    """Add ``value`` (arrays, numbers, strings, and lists, tuples and dicts of them) to ``digest``; a
    TypeError for anything else (the reference is then not kept)."""
    if isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value):
            digest.update(str(key).encode() + b":")
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif value is None:
        digest.update(b"None")
    elif isinstance(value, (str, bool, int, float, np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"cannot key a reference on {type(value).__name__}")
        digest.update(f"{array.dtype.str}{array.shape}".encode() + np.ascontiguousarray(array).tobytes())
    else:
        raise TypeError(f"cannot key a reference on {type(value).__name__}")


def reference_key(problem: str, size: int, operation: str, dtype: str, seed: int, inputs: dict[str, Any]) -> str | None:
    """The name a reference is kept under: problem, size, operation, dtype, seed, the inputs themselves (x,
    constants, direction: a changed generator changes the key) and ``code_fingerprint``; None when the
    inputs hold something that cannot be keyed."""
    digest = hashlib.sha256(json.dumps([problem, size, operation, dtype, seed, code_fingerprint()]).encode())
    d = inputs.get("direction")
    try:
        _feed(
            digest,
            {
                "x": inputs["x"],
                "constants": inputs.get("constants") or {},
                "v": getattr(d, "v", None),
                "u": getattr(d, "u", None),
            },
        )
    except TypeError:
        return None
    return digest.hexdigest()


def _folder() -> Path | None:
    root = cache_root()
    return root / "references" if root is not None else None


def load_reference(key: str) -> tuple[Any, str] | None:
    """The kept reference and its kind, or None (not kept, or unreadable: it is computed again)."""
    folder = _folder()
    if folder is None:
        return None
    try:
        with np.load(folder / f"{key}.npz", allow_pickle=False) as data:
            kind = str(data["kind"])
            if "sparse_shape" in data:
                import scipy.sparse

                return scipy.sparse.csr_matrix(
                    (data["data"], data["indices"], data["indptr"]), shape=tuple(data["sparse_shape"])
                ), kind
            return (np.array(data["ref"]) if "ref" in data else None), kind
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):  # missing, or damaged: computed again
        return None


def store_reference(key: str, ref: Any, kind: str) -> None:
    """Keep a reference: written to a temporary file beside its place and renamed over it, so a concurrent
    reader sees the whole entry or none, and two writers of one key leave one whole entry."""
    folder = _folder()
    if folder is None:
        return
    if ref is None:
        arrays = {}
    elif hasattr(ref, "tocsr"):  # a SciPy sparse matrix (sparse-jacobian)
        m = ref.tocsr()
        arrays = {"data": m.data, "indices": m.indices, "indptr": m.indptr, "sparse_shape": np.asarray(m.shape)}
    else:
        arrays = {"ref": np.asarray(ref)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, kind=np.asarray(kind), **arrays)
            os.replace(tmp, folder / f"{key}.npz")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:  # a read-only or full cache folder: the reference was computed, the run goes on
        pass


def cached_reference(key: str | None, compute: Callable[[], tuple[Any, str]]) -> tuple[Any, str, bool]:
    """The reference under ``key``: kept, or computed now and kept; and whether it was kept already."""
    if key is not None:
        kept = load_reference(key)
        if kept is not None:
            return kept[0], kept[1], True
    ref, kind = compute()
    if key is not None:
        store_reference(key, ref, kind)
    return ref, kind, False
