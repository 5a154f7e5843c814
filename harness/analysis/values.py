"""How the report orders and prints the values it shows: parameter values, metrics and table cells.

Numbers sort numerically before text and print with four significant digits; a missing value is a dash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from harness.io import finite_or_none


def plain(value: object) -> object:
    """A NumPy scalar as the Python value it holds (so that 3 and np.int64(3) are one value)."""
    return value.item() if isinstance(value, np.generic) else value


def sorted_values(values: Iterable[object]) -> tuple:
    """Distinct values, numbers first in numeric order, then text in alphabetical order."""

    def order(value: object) -> tuple:
        number = finite_or_none(value)
        return (0, number, "") if number is not None else (1, 0.0, str(value))

    return tuple(sorted({plain(v) for v in values}, key=order))


def is_numeric(values: Sequence[object]) -> bool:
    return all(finite_or_none(v) is not None for v in values)


def format_value(value: object) -> str:
    """Numbers with 4 significant digits, everything else as text; None as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)
