"""How the pages name an operation and write a count: the operations' titles, integers, superscripts."""

from __future__ import annotations

from typing import Any

import pandas as pd

from adbench import formatting as fmt

OPERATION_TITLES = {
    "jacobian": "Jacobian",
    "jvp": "JVP",
    "vjp": "VJP",
    "hvp": "HVP",
    "hessian": "Hessian",
    "sparse-jacobian": "sparse Jacobian (compressed passes)",
    "nested": "nested",
}


def operation_title(operation: str) -> str:
    return OPERATION_TITLES.get(operation, operation)


def integer(n: Any) -> str:  # a frame's cell: any integral number, NaN or None
    """fmt.integer for any integral value (NumPy's and pandas' included): 10 000."""
    return fmt.integer(int(n)) if n is not None and pd.notna(n) else ""


def sup(k: int) -> str:
    return str(k).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
