"""Framework adapters behind one interface; frameworks are imported only when a backend is used."""

from __future__ import annotations

from dataclasses import dataclass

from adbench.backends._base import (
    DEVICES,
    DIRECTED,
    DTYPES,
    OPERATIONS,
    SECOND_ORDER,
    Backend,
    Device,
    Direction,
    Dtype,
    PreparedCase,
    as_dtype,
    installed_version,
)
from adbench.backends.autograd_backend import AutogradBackend
from adbench.backends.jax_backend import JaxBackend, JaxEagerBackend
from adbench.backends.mlx_backend import MlxBackend, MlxCompileBackend
from adbench.backends.modes import (
    AD_MODES,
    BASELINE_MODES,
    COMPOSITIONS,
    EVERY_MODE,
    MODE_NAMES,
    MODES,
    NESTED,
    SPARSE,
    Mode,
    ModeName,
    Operation,
    Pass,
    as_mode,
    as_operation,
    is_mode,
    is_operation,
    mode_order,
)
from adbench.backends.numpy_baselines import FiniteDifferenceBackend, ManualBackend
from adbench.backends.tensorflow_backend import TensorflowBackend, TensorflowXlaBackend
from adbench.backends.torch_autograd_backend import TorchAutogradBackend
from adbench.backends.torch_backend import TorchBackend, TorchCompileBackend
from adbench.errors import UnknownChoiceError

_BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        JaxBackend(),
        JaxEagerBackend(),
        TorchBackend(),
        TorchAutogradBackend(),
        TorchCompileBackend(),
        AutogradBackend(),
        TensorflowBackend(),
        TensorflowXlaBackend(),
        MlxBackend(),
        MlxCompileBackend(),
        ManualBackend(),
        FiniteDifferenceBackend(),
    )
}


@dataclass(frozen=True)
class BackendInfo:
    """What ``adbench list`` shows of a backend."""

    name: str
    framework: str
    modes: tuple[ModeName, ...]
    operations: dict[Operation, tuple[ModeName, ...]]
    available: bool
    version: str | None
    reason: str | None
    description: str


def get_backend(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except (KeyError, TypeError):
        raise UnknownChoiceError("backend", name, _BACKENDS) from None


def backend_names(default_only: bool = False) -> list[str]:
    """Every backend, in display order; ``default_only``: those a plain ``compare`` runs."""
    ordered = sorted(_BACKENDS.values(), key=lambda b: b.order)
    return [b.name for b in ordered if b.default or not default_only]


def backend_info(name: str, import_framework: bool = True) -> BackendInfo:
    """Import the backend's framework (here, in this process) and report whether it works; with
    ``import_framework`` False, whether it is installed and its version from package metadata (milliseconds,
    where importing every framework takes seconds; a broken install then shows only when a case runs)."""
    b = get_backend(name)
    if not import_framework:
        version, reason = installed_version(b.framework)
        return BackendInfo(
            b.name, b.framework, b.modes, dict(b.operations), reason is None, version, reason, b.description
        )
    try:
        b.load()
        version, reason = b.version(), None
    except Exception as exc:  # noqa: BLE001 (an ImportError, or a broken install raising anything at import)
        version, reason = None, f"{type(exc).__name__}: {exc}"
    return BackendInfo(b.name, b.framework, b.modes, dict(b.operations), reason is None, version, reason, b.description)


def list_backends(import_frameworks: bool = True) -> list[BackendInfo]:
    """Every backend with availability, version and the reason when unavailable (``import_frameworks`` False:
    from package metadata, without importing them; see ``backend_info``)."""
    return [backend_info(name, import_frameworks) for name in _BACKENDS]


__all__ = [
    "AD_MODES",
    "BASELINE_MODES",
    "COMPOSITIONS",
    "DEVICES",
    "DIRECTED",
    "DTYPES",
    "EVERY_MODE",
    "MODES",
    "MODE_NAMES",
    "NESTED",
    "OPERATIONS",
    "SECOND_ORDER",
    "SPARSE",
    "Backend",
    "BackendInfo",
    "Device",
    "Direction",
    "Dtype",
    "Mode",
    "ModeName",
    "Operation",
    "Pass",
    "PreparedCase",
    "as_dtype",
    "as_mode",
    "as_operation",
    "is_mode",
    "is_operation",
    "mode_order",
    "backend_info",
    "backend_names",
    "get_backend",
    "list_backends",
]
