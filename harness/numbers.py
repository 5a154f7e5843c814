"""Numbers as the run's files and tables store them: a finite float, or None for a value that is not one.

One rule for every writer and reader (scorers, the score step, trackers, the report), so that NaN never
reaches JSON and a missing metric reads the same wherever it is shown.
"""

from __future__ import annotations

import math

import numpy as np


def finite_or_none(value: object) -> float | None:
    """`value` as a float when it is a finite real number; None for NaN, infinities, None, NA, text and bools."""
    # Booleans are ints to Python but flags to us: a True is not the number 1 in a metric table.
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
