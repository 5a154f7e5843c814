"""Expected values computed in the tests, independently of harness.scorers.stats: a score pooled over prompts.

Each prompt's seeds are averaged with pandas, then the mean over prompts gets SciPy's Student t interval, or
none below the 8 prompts (bootstrap.min_n) an interval is shown for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def prompt_mean_by_hand(values, prompts, level: float = 0.95) -> tuple[float, float, float]:
    """(mean of per-prompt means, t-interval low, high) over prompts, NaN scores dropped; NaN interval below 8."""
    frame = pd.DataFrame({"value": np.asarray(values, dtype=float), "prompt": np.asarray(prompts)}).dropna()
    means = frame.groupby("prompt")["value"].mean().to_numpy()
    if len(means) < 8:
        return float(means.mean()), float("nan"), float("nan")
    low, high = stats.t.interval(level, df=len(means) - 1, loc=means.mean(), scale=stats.sem(means))
    return float(means.mean()), float(low), float(high)
