"""Coverage of the harness's nominal 95% intervals on seeded simulations whose truth is known by construction.

Each test draws many data sets from a known distribution at once and counts how often the interval holds
the true value; the intervals are computed for the whole batch in one vectorised call.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.scorers.bias import distribution_summary
from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import mean_interval, proportion_interval

LEVEL = 0.95
DATA_SETS = 1000
OPTIONS = BootstrapOptions(resamples=1000, seed=0, level=LEVEL, min_n=8)


def coverage(low: np.ndarray, high: np.ndarray, truth: float) -> float:
    return float(np.mean((low <= truth) & (truth <= high)))


@pytest.mark.parametrize("p", [0.05, 0.5, 0.7])
@pytest.mark.parametrize("n", [4, 16, 64])
def test_share_intervals_cover_and_never_have_zero_width(n, p):
    k = np.random.default_rng(100 + n).binomial(n, p, size=DATA_SETS)
    low, high = proportion_interval(k, np.full(DATA_SETS, n), LEVEL)
    assert coverage(low, high, p) >= 0.93
    assert np.all(high - low > 0)


@pytest.mark.parametrize("n", [4, 16, 64])
def test_mean_intervals_of_a_normal_score_cover(n):
    values = np.random.default_rng(200 + n).normal(50.0, 5.0, size=(DATA_SETS, n))
    assert coverage(*mean_interval(values, OPTIONS), 50.0) >= 0.93


@pytest.mark.parametrize("n", [16, 64])
def test_mean_intervals_of_a_lognormal_score_cover(n):
    values = np.random.default_rng(300 + n).lognormal(0.0, 1.0, size=(DATA_SETS, n))
    # The mean of lognormal(0, sigma=1) is exp(sigma^2 / 2).
    assert coverage(*mean_interval(values, OPTIONS), np.exp(0.5)) >= 0.90


@pytest.mark.parametrize("n", [12, 100])
def test_the_class_of_interest_interval_rarely_excludes_chance_when_there_is_no_bias(n):
    k = 8
    labels = np.random.default_rng(400 + n).integers(0, k, size=(DATA_SETS, n))
    excluded = 0
    for row in labels:
        metrics, _, _ = distribution_summary(row, tuple(f"c{i}" for i in range(k)), LEVEL, 0, True)
        excluded += not metrics["bias/interest_share_ci_low"] <= 1 / k <= metrics["bias/interest_share_ci_high"]
    assert excluded / DATA_SETS <= 0.05
