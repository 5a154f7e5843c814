"""Bootstrap intervals against normal theory, and the distribution measures against SciPy / closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import (
    bootstrap_statistic_ci,
    chi_square_uniform_pvalue,
    mean_ci,
    normalized_entropy,
    share_cis,
    tv_from_uniform,
)

OPTIONS = BootstrapOptions(resamples=4000, seed=0, level=0.95)
Z95 = sps.norm.ppf(0.975)


def test_bootstrap_ci_of_a_mean_matches_normal_theory_for_a_large_sample():
    values = np.random.default_rng(0).normal(5.0, 2.0, size=400)
    se = values.std(ddof=0) / np.sqrt(len(values))
    low, high = mean_ci(values, OPTIONS)
    assert low == pytest.approx(values.mean() - Z95 * se, abs=0.15 * se)
    assert high == pytest.approx(values.mean() + Z95 * se, abs=0.15 * se)


def test_bootstrap_ci_is_reproducible_with_its_seed_and_changes_with_another():
    values = np.random.default_rng(1).normal(size=50)
    assert mean_ci(values, OPTIONS) == mean_ci(values, OPTIONS)
    assert mean_ci(values, OPTIONS) != mean_ci(values, BootstrapOptions(4000, 1, 0.95))


def test_bootstrap_ci_of_fewer_than_two_values_is_none():
    assert mean_ci(np.array([1.0]), OPTIONS) == (None, None)


def test_bootstrap_ci_of_any_statistic_matches_normal_theory_for_the_mean():
    values = np.random.default_rng(2).exponential(size=300)
    se = values.std(ddof=0) / np.sqrt(len(values))
    low, high = bootstrap_statistic_ci(len(values), lambda idx: values[idx].mean(), OPTIONS)
    assert low == pytest.approx(values.mean() - Z95 * se, abs=0.2 * se)
    assert high == pytest.approx(values.mean() + Z95 * se, abs=0.2 * se)


def test_share_intervals_match_the_binomial_normal_approximation():
    labels = np.random.default_rng(3).choice(3, size=600, p=[0.6, 0.3, 0.1])
    low, high = share_cis(labels, 4, OPTIONS)
    for k in range(3):
        p = np.mean(labels == k)
        se = math.sqrt(p * (1 - p) / len(labels))
        assert low[k] == pytest.approx(p - Z95 * se, abs=0.15 * se)
        assert high[k] == pytest.approx(p + Z95 * se, abs=0.15 * se)
    assert low[3] == high[3] == 0.0


def test_normalized_entropy_is_scipy_entropy_over_log_k():
    shares = np.array([0.5, 0.25, 0.125, 0.125, 0.0])
    assert normalized_entropy(shares) == pytest.approx(sps.entropy(shares) / np.log(5), rel=1e-12)
    assert normalized_entropy(np.full(8, 1 / 8)) == pytest.approx(1.0)
    assert normalized_entropy(np.array([1.0, 0.0, 0.0])) == 0.0


def test_total_variation_from_uniform():
    assert tv_from_uniform(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.75)
    assert tv_from_uniform(np.array([0.5, 0.5, 0.0, 0.0])) == pytest.approx(0.5)
    assert tv_from_uniform(np.full(5, 0.2)) == pytest.approx(0.0)


def test_chi_square_p_value_against_the_closed_form():
    counts = np.array([30, 10, 5, 15])
    expected = counts.sum() / 4
    statistic = ((counts - expected) ** 2 / expected).sum()
    assert chi_square_uniform_pvalue(counts) == pytest.approx(sps.chi2.sf(statistic, df=3), rel=1e-10)
    # With two classes the chi-square(1) tail is erfc(sqrt(x / 2)).
    two = np.array([14, 6])
    x = ((two - 10) ** 2 / 10).sum()
    assert chi_square_uniform_pvalue(two) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-10)
    assert chi_square_uniform_pvalue(np.zeros(3)) is None
