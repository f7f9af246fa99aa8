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
    is_mode,
    is_operation,
    mode_order,
)
from adbench.backends.numpy_baselines import FiniteDifferenceBackend, ManualBackend
from adbench.backends.tensorflow_backend import TensorflowBackend, TensorflowXlaBackend
from adbench.backends.torch_backend import TorchAutogradBackend, TorchBackend, TorchCompileBackend
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


def backend_info(name: str) -> BackendInfo:
    """Import the backend's framework (here, in this process) and report whether it works."""
    b = get_backend(name)
    try:
        b.load()
        version, reason = b.version(), None
    except Exception as exc:  # noqa: BLE001 (an ImportError, or a broken install raising anything at import)
        version, reason = None, f"{type(exc).__name__}: {exc}"
    return BackendInfo(b.name, b.framework, b.modes, dict(b.operations), reason is None, version, reason, b.description)


def list_backends() -> list[BackendInfo]:
    """Every backend with availability, version and the reason when unavailable."""
    return [backend_info(name) for name in _BACKENDS]


__all__ = [
    "AD_MODES", "BASELINE_MODES", "COMPOSITIONS", "DEVICES", "DIRECTED", "DTYPES", "EVERY_MODE", "MODES",
    "MODE_NAMES", "NESTED", "OPERATIONS", "SECOND_ORDER", "SPARSE",
    "Backend", "BackendInfo", "Device", "Direction", "Dtype", "Mode", "ModeName", "Operation", "Pass", "PreparedCase",
    "is_mode", "is_operation", "mode_order",
    "backend_info", "backend_names", "get_backend", "list_backends",
]
