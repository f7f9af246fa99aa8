"""The vocabulary's types (adbench.backends.modes): each constant is read off its Literal type, and what the
backends declare stays inside it."""

from typing import get_args

import pytest

from adbench.backends import (
    DEVICES,
    DTYPES,
    MODE_NAMES,
    MODES,
    OPERATIONS,
    Device,
    Dtype,
    ModeName,
    Operation,
    Pass,
    backend_names,
    get_backend,
    is_mode,
    is_operation,
)
from adbench.backends.modes import EVERY_MODE, PASSES


@pytest.mark.parametrize(
    "constant, kind",
    [(OPERATIONS, Operation), (MODE_NAMES, ModeName), (DTYPES, Dtype), (DEVICES, Device)],
    ids=["operations", "modes", "dtypes", "devices"],
)
def test_constant_is_its_type(constant, kind):
    assert set(constant) == set(get_args(kind)) and len(constant) == len(set(constant))


def test_levels_are_passes():  # and MODES's names are ModeName's: test_constant_is_its_type
    assert {level for m in MODES for level in m.levels} == set(get_args(Pass))


def test_tables_stay_inside_the_vocabulary():
    assert set(EVERY_MODE) == set(OPERATIONS)
    assert all(is_operation(op) and is_mode(mode) for op, mode in PASSES)


@pytest.mark.parametrize("backend", backend_names(default_only=False))
def test_backend_declares_known_operations_and_modes(backend):
    b = get_backend(backend)
    assert all(is_operation(op) for op in b.operations), b.operations
    assert all(is_mode(m) for m in b.modes), b.modes


@pytest.mark.parametrize(
    "name, operation, mode",
    [
        ("jacobian", True, False),
        ("forward-over-reverse", False, True),
        ("sparse-jacobian", True, False),
        ("Jacobian", False, False),
        ("", False, False),
    ],
)
def test_narrowing(name, operation, mode):
    assert is_operation(name) is operation and is_mode(name) is mode
