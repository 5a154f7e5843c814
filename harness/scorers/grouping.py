"""Subsets of a samples table by the values of one column (tag.style, prompt_id, guidance_scale, ...).

A subset's metrics are named with the suffix `[<column>=<value>]`; values are ordered numerically if they are
numbers, else as text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _order(value: object) -> tuple[int, float, str]:
    try:
        return 0, float(value), str(value)
    except (TypeError, ValueError):
        return 1, 0.0, str(value)


def column_groups(values: pd.Series) -> list[tuple[str, np.ndarray]]:
    """(value as text, boolean mask) for every distinct non-null value of a column, in value order."""
    present = values.notna().to_numpy()
    text = values.astype(str).to_numpy()
    distinct = {text[i]: values.iloc[i] for i in np.flatnonzero(present)}
    return [(label, present & (text == label)) for label in sorted(distinct, key=lambda t: _order(distinct[t]))]
