"""Paired comparisons between the cells of a sweep: every per-sample score, adjacent values of each parameter.

Cells of a guidance or temperature sweep share their prompts and seeds, so they are paired data: the
difference is taken per prompt (its seeds averaged), with an interval over prompts, a sign-flip p-value, and
Holm's adjustment over every comparison of the sweep (the table's family, named in its `holm_family` column).
The Findings' verdicts do not read this table: each adjusts over its own claim's metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import adjacent_comparisons, holm

HOLM_NOTE = (
    "p_holm: Holm's adjustment over all {n} comparisons of the sweep (every score, every parameter); the "
    "Findings' verdicts adjust over their own claim's metrics only"
)
HOLM_FAMILY = "all {n} comparisons of the sweep"
COLUMNS = [
    "param", "held", "value_a", "value_b", "metric", "diff", "ci_low", "ci_high", "p", "p_holm", "holm_family",
    "n_prompts",
]  # fmt: skip


def paired_comparisons(
    samples: pd.DataFrame,
    params: Sequence[tuple[str, str]],
    metrics: Sequence[str],
    options: BootstrapOptions | None = None,
) -> pd.DataFrame:
    """One row per (parameter, values of the other parameters, adjacent pair of its values, metric).

    `samples` holds one row per sample with prompt_id, seed, a column per parameter (`params` gives each one's
    (name, column)) and the numeric score columns `metrics`. diff is value_b's cell minus value_a's.
    """
    options = options or BootstrapOptions()
    numeric = [m for m in metrics if _is_numeric(samples[m])]
    if not params or not numeric:
        return pd.DataFrame(columns=[*COLUMNS, "method"])
    long = samples.melt(
        id_vars=["prompt_id", "seed", *(column for _, column in params)],
        value_vars=numeric,
        var_name="metric",
        value_name="value",
    )
    long["value"] = long["value"].astype("float64")
    parts = []
    for name, column in params:
        held_columns = [c for n, c in params if c != column]
        groups = long.groupby(held_columns, dropna=False, sort=True) if held_columns else [((), long)]
        for held, frame in groups:
            held_values = held if isinstance(held, tuple) else (held,)
            table = frame.rename(columns={column: name})
            part = adjacent_comparisons(table, name, options)
            part.insert(1, "held", _held_label(params, column, held_values))
            parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["p_holm"] = holm(out["p"].to_numpy(dtype=np.float64))
    out["holm_family"] = HOLM_FAMILY.format(n=int(out["p"].notna().sum()))
    return out[[*COLUMNS, "method"]]


def _held_label(params: Sequence[tuple[str, str]], swept: str, values: tuple) -> str:
    held = [name for name, column in params if column != swept]
    return ", ".join(f"{name}={value}" for name, value in zip(held, values, strict=True)) or "(none)"


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
