"""Intervals against SciPy and closed forms, and the distribution measures against SciPy / closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import (
    cluster_means,
    mean_ci,
    mean_interval,
    mean_interval_method,
    normalized_entropy,
    proportion_interval,
    tv_from_uniform,
)

OPTIONS = BootstrapOptions(resamples=2000, seed=0, level=0.95, min_n=8)


@pytest.mark.parametrize(("k", "n"), [(0, 4), (1, 4), (4, 4), (3, 12), (0, 100), (37, 100), (100, 100)])
def test_proportion_interval_is_scipy_clopper_pearson(k, n):
    expected = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    low, high = proportion_interval(k, n, 0.95)
    assert float(low) == pytest.approx(expected.low, abs=1e-12)
    assert float(high) == pytest.approx(expected.high, abs=1e-12)
    assert high > low


def test_proportion_interval_is_elementwise_and_nan_without_trials():
    low, high = proportion_interval(np.array([0, 2, 0]), np.array([5, 5, 0]), 0.9)
    for i, (k, n) in enumerate(((0, 5), (2, 5))):
        ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.9, method="exact")
        assert (low[i], high[i]) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert np.isnan(low[2]) and np.isnan(high[2])


def test_fewer_prompts_than_an_interval_needs_get_none():
    # Below 5 units (or bootstrap.min_n) no method covered 0.93 in the coverage simulations.
    low, high = mean_ci(np.array([3.0, 5.0, 4.5, 7.0]), BootstrapOptions(min_n=2))
    assert low is None and high is None  # a metric without a number is None, never NaN
    assert mean_interval_method(4, BootstrapOptions(min_n=2)) == "no_interval"
    assert mean_interval_method(7, OPTIONS) == "no_interval"
    assert mean_interval_method(8, OPTIONS) == "t_bootstrap_t_hull"


def test_the_interval_is_the_hull_of_student_t_and_a_direct_numpy_studentized_bootstrap():
    values = np.random.default_rng(4).exponential(size=30)
    idx = np.random.default_rng(OPTIONS.seed).integers(0, 30, size=(OPTIONS.resamples, 30))
    resampled = values[idx]
    t = (resampled.mean(1) - values.mean()) / (resampled.std(1, ddof=1) / np.sqrt(30))
    se = sps.sem(values)
    q_low, q_high = np.quantile(t, [0.025, 0.975])
    t_low, t_high = sps.t.interval(0.95, 29, loc=values.mean(), scale=se)
    low, high = mean_ci(values, OPTIONS)
    assert low == pytest.approx(min(values.mean() - q_high * se, t_low), rel=1e-12)
    assert high == pytest.approx(max(values.mean() - q_low * se, t_high), rel=1e-12)


def test_bootstrap_t_interval_matches_normal_theory_for_a_large_normal_sample():
    values = np.random.default_rng(0).normal(5.0, 2.0, size=400)
    se = sps.sem(values)
    low, high = mean_ci(values, OPTIONS)
    assert low == pytest.approx(values.mean() - 1.96 * se, abs=0.1 * se)
    assert high == pytest.approx(values.mean() + 1.96 * se, abs=0.1 * se)


def test_mean_interval_of_a_batch_equals_the_interval_of_each_row():
    rows = np.random.default_rng(5).normal(size=(3, 12))
    low, high = mean_interval(rows, OPTIONS)
    for i in range(3):
        assert (low[i], high[i]) == pytest.approx(mean_ci(rows[i], OPTIONS), rel=1e-12)


def test_intervals_are_reproducible_with_their_seed_and_change_with_another():
    values = np.random.default_rng(1).normal(size=50)
    assert mean_ci(values, OPTIONS) == mean_ci(values, OPTIONS)
    assert mean_ci(values, OPTIONS) != mean_ci(values, BootstrapOptions(2000, 1, 0.95, 8))


def test_interval_of_fewer_than_two_values_is_none():
    assert mean_ci(np.array([1.0]), OPTIONS) == (None, None)


def test_cluster_means_average_each_prompt_in_sorted_order():
    values = np.array([1.0, 2.0, 10.0, 3.0, 20.0])
    prompts = np.array(["b", "b", "a", "b", "a"])
    np.testing.assert_allclose(cluster_means(values, prompts), [15.0, 2.0])


def test_normalized_entropy_is_scipy_entropy_over_log_k():
    shares = np.array([0.5, 0.25, 0.125, 0.125, 0.0])
    assert normalized_entropy(shares) == pytest.approx(sps.entropy(shares) / np.log(5), rel=1e-12)
    assert normalized_entropy(np.full(8, 1 / 8)) == pytest.approx(1.0)
    assert normalized_entropy(np.array([1.0, 0.0, 0.0])) == 0.0


def test_total_variation_from_uniform():
    assert tv_from_uniform(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.75)
    assert tv_from_uniform(np.array([0.5, 0.5, 0.0, 0.0])) == pytest.approx(0.5)
    assert tv_from_uniform(np.full(5, 0.2)) == pytest.approx(0.0)
