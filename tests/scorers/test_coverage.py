"""Coverage of the harness's nominal 95% intervals on seeded simulations whose truth is known by construction.

Each test draws many data sets from a known distribution at once and counts how often the interval holds
the true value; the intervals are computed for the whole batch in one vectorised call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.scorers.bias import distribution_summary
from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import (
    difference_comparison,
    mean_interval,
    paired_comparison,
    prompt_mean,
    proportion_interval,
    rate_interval,
)

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


FLOOR = BootstrapOptions(resamples=1000, seed=0, level=LEVEL, min_n=5)


def per_prompt_scores(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """DATA_SETS rows of n per-prompt scores of one kind, and their true mean."""
    if kind == "normal":
        return rng.normal(50.0, 5.0, (DATA_SETS, n)), 50.0
    if kind == "lognormal":  # sigma 0.5: skewness 1.75; its mean is exp(sigma^2 / 2)
        return rng.lognormal(0.0, 0.5, (DATA_SETS, n)), float(np.exp(0.125))
    if kind == "probability":  # a bounded score near its ceiling, e.g. P(intended style)
        return rng.beta(8.5, 1.5, (DATA_SETS, n)), 0.85
    if kind == "rate":  # each prompt's rate of a 0/1 outcome over 4 seeds, its own p drawn from Beta(3.2, 0.8)
        return rng.binomial(4, rng.beta(3.2, 0.8, (DATA_SETS, n))) / 4, 0.8
    # "tied": most prompts give the same value (a coverage or rate at its usual level), a few fall below
    return rng.choice([0.125, 0.09375, 0.0625], p=[0.8, 0.1, 0.1], size=(DATA_SETS, n)), 0.115625


@pytest.mark.parametrize("kind,n", [(kind, n) for kind in ("normal", "lognormal", "probability") for n in (5, 8, 16)])
def test_mean_intervals_of_per_prompt_scores_cover(kind, n):
    values, truth = per_prompt_scores(kind, n, np.random.default_rng(200 + n))
    # Measured on 3,000 data sets: 0.94-0.97; 1,000 here have a standard error of about 0.007.
    assert coverage(*mean_interval(values, FLOOR), truth) >= 0.93


RATES = {  # name -> (Beta of each prompt's rate, seeds per prompt): common, even, rare and near-certain outcomes
    "common": ((3.2, 0.8), 4),
    "even": ((1.0, 1.0), 4),
    "rare": ((0.5, 4.5), 2),
    "near_certain": ((9.0, 1.0), 1),
}


@pytest.mark.parametrize("name", list(RATES))
@pytest.mark.parametrize("n", [5, 8, 12, 16])
def test_rate_intervals_of_a_0_1_outcome_cover(name, n):
    """Per-prompt rates over a few seeds tie and pile up at 0 or 1: t and bootstrap-t alone covered a rare
    outcome 0.61-0.81 and a near-certain one 0.40-0.81 at 5-16 prompts (measured on 2,000 data sets), so a
    rate's interval adds Clopper-Pearson over prompts (`rate_interval`)."""
    (a, b), seeds = RATES[name]
    rng = np.random.default_rng(700 + n)
    rates = rng.binomial(seeds, rng.beta(a, b, (DATA_SETS, n))) / seeds
    low, high = rate_interval(rates, FLOOR)
    assert coverage(low, high, a / (a + b)) >= 0.93
    assert np.all((low >= 0) & (high <= 1))


def test_a_0_1_score_pooled_over_prompts_gets_the_rate_interval():
    """prompt_mean of a presence score: the hull of the mean's interval and Clopper-Pearson with the prompts'
    rates summed as successes in one trial per prompt, from SciPy's Beta quantiles (the exact interval)."""
    from scipy import stats as sps

    rates = np.array([1.0, 1.0, 0.75, 1.0, 0.5, 1.0, 1.0, 0.25])
    # 4 seeds a prompt, as many present as each rate says
    values = np.concatenate([[1.0] * round(4 * r) + [0.0] * (4 - round(4 * r)) for r in rates])
    prompts = np.repeat([f"p{i}" for i in range(8)], 4)
    mean, low, high, n = prompt_mean(values, prompts, FLOOR)
    k = rates.sum()
    t_low, t_high = mean_interval(rates, FLOOR)
    assert (mean, n) == (pytest.approx(rates.mean()), 8)
    assert low == pytest.approx(min(t_low, sps.beta.ppf(0.025, k, 8 - k + 1)))
    assert high == pytest.approx(min(1.0, max(t_high, sps.beta.ppf(0.975, k + 1, 8 - k))))
    # A score that is not 0/1 keeps the mean's interval.
    _, low, high, _ = prompt_mean(values * 0.9 + 0.05, prompts, FLOOR)
    assert (low, high) == pytest.approx(tuple(mean_interval(rates * 0.9 + 0.05, FLOOR)))


@pytest.mark.parametrize("kind", ["normal", "lognormal", "probability", "rate", "tied"])
def test_tied_scores_give_finite_intervals(kind):
    """A resample of one repeated value has no standard error: it is left out of the bootstrap-t quantiles
    instead of putting a bound at infinity."""
    values, _ = per_prompt_scores(kind, 8, np.random.default_rng(300))
    low, high = mean_interval(values, FLOOR)
    assert np.all(np.isfinite(low) & np.isfinite(high))
    scores = np.array([0.125, 0.125, 0.125, 0.09375, 0.0625, 0.125, 0.125, 0.125])
    low, high = mean_interval(scores, FLOOR)
    assert 0.0 < low < scores.mean() < high < 0.1875


@pytest.mark.parametrize("n", [2, 3, 4])
def test_below_five_prompts_no_interval_is_shown(n):
    # Student t covered a share of 0.1 at ICC 0.3 only 0.63-0.81 here, bootstrap-t 0.87 at 4.
    low, high = mean_interval(np.random.default_rng(n).normal(size=(3, n)), BootstrapOptions(min_n=2))
    assert np.isnan(low).all() and np.isnan(high).all()


@pytest.mark.parametrize("share,icc", [(0.05, 0.2), (0.1, 0.3), (0.3, 0.2), (0.5, 0.1)])
@pytest.mark.parametrize("prompts", [8, 16])
def test_share_intervals_with_prompts_as_clusters_cover(share, icc, prompts):
    """Each prompt's church propensity from a Beta with intra-prompt correlation `icc`, 16 images each (bias
    shows share intervals from bootstrap.min_n = 8 prompts)."""
    rng = np.random.default_rng(int(1000 * share + 100 * icc + prompts))
    k = 1 / icc - 1
    propensity = rng.beta(share * k, (1 - share) * k, size=(DATA_SETS // 4, prompts))
    labels = (rng.random((DATA_SETS // 4, prompts, 16)) >= propensity[..., None]).astype(np.int64)
    units = np.repeat([f"p{j}" for j in range(prompts)], 16)
    covered = 0
    for row in labels.reshape(DATA_SETS // 4, -1):
        metrics, _, _ = distribution_summary(row, units, ("church", "other"), LEVEL, 0)
        low, high = metrics["bias/interest_share_ci_low"], metrics["bias/interest_share_ci_high"]
        covered += low is not None and low <= share <= high
    # 250 data sets: standard error about 0.014 at 0.95; measured 0.93-0.97 on 3,000 for the t / bootstrap-t parts.
    assert covered / (DATA_SETS // 4) >= 0.92


@pytest.mark.parametrize("n", [12, 100])
def test_the_class_of_interest_interval_rarely_excludes_chance_when_there_is_no_bias(n):
    k = 8
    labels = np.random.default_rng(400 + n).integers(0, k, size=(DATA_SETS, n))
    excluded = 0
    for row in labels:
        units = np.array([f"p{j}" for j in range(n)])  # one image per prompt
        metrics, _, _ = distribution_summary(row, units, tuple(f"c{i}" for i in range(k)), LEVEL, 0)
        low, high = metrics["bias/interest_share_ci_low"], metrics["bias/interest_share_ci_high"]
        excluded += not low <= 1 / k <= high
    assert excluded / DATA_SETS <= 0.05


def _paired_cells(rng: np.random.Generator, prompts: int, seeds: int, shift: float) -> tuple[pd.Series, pd.Series]:
    """Two sweep cells on the same prompts and seeds: a shared prompt effect, skewed per-image noise, and
    cell b shifted by `shift`. With shift 0 the cells are exchangeable: the null of the sign-flip test."""
    index = pd.MultiIndex.from_product([[f"p{i:02d}" for i in range(prompts)], range(seeds)])
    effect = np.repeat(rng.normal(0.0, 3.0, size=prompts), seeds)
    a = effect + rng.lognormal(0.0, 1.0, size=prompts * seeds)
    b = effect + shift + rng.lognormal(0.0, 1.0, size=prompts * seeds)
    return pd.Series(a, index=index), pd.Series(b, index=index)


@pytest.mark.parametrize("prompts", [8, 16])
def test_paired_interval_covers_the_true_difference_and_the_p_value_holds_its_level(prompts):
    rng = np.random.default_rng(500 + prompts)
    options = BootstrapOptions(resamples=500, seed=0, level=LEVEL, min_n=8)
    covered = rejected = 0
    runs = 500
    for _ in range(runs):
        result = paired_comparison(*_paired_cells(rng, prompts, 4, 0.3), options)
        covered += result.ci_low <= 0.3 <= result.ci_high
        null = paired_comparison(*_paired_cells(rng, prompts, 4, 0.0), options)
        rejected += null.p <= 0.05
    # Heavy-tailed per-prompt differences: bootstrap-t measured 0.915 over 2,000 runs at 16 prompts.
    assert covered / runs >= 0.88
    assert rejected / runs <= 0.075


PAIRED_SETS = 3000  # standard error of a coverage near 0.945: 0.004


def _paired_differences(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """PAIRED_SETS rows of n per-prompt differences b - a, and their true mean."""
    if kind == "skewed_effect":  # each prompt's own effect is lognormal(0, 0.5) around 1, its mean exp(1/8) - 1
        return rng.lognormal(0.0, 0.5, (PAIRED_SETS, n)) - 1.0, float(np.exp(0.125)) - 1.0
    # a bounded score near its ceiling that drops by a Beta(2, 8) amount, floored at 0: the true mean drop
    # (about -0.2) from 10^6 draws
    a = rng.beta(8.5, 1.5, (PAIRED_SETS, n))
    truth_rng = np.random.default_rng(0)
    pa = truth_rng.beta(8.5, 1.5, 10**6)
    truth = float((np.clip(pa - truth_rng.beta(2, 8, 10**6), 0, 1) - pa).mean())
    return np.clip(a - rng.beta(2, 8, (PAIRED_SETS, n)), 0, 1) - a, truth


@pytest.mark.parametrize("kind", ["skewed_effect", "probability_drop"])
@pytest.mark.parametrize("n", [5, 8, 16])
def test_paired_intervals_of_per_prompt_differences_cover(kind, n):
    """A paired comparison's interval is the mean's interval of the per-prompt differences (checked on the
    first data set); on skewed and bounded differences it covered 0.94-0.96 on 8,000 data sets."""
    d, truth = _paired_differences(kind, n, np.random.default_rng(800 + n))
    low, high = mean_interval(d, FLOOR)
    one = difference_comparison(d[0], FLOOR)
    assert (one.ci_low, one.ci_high) == pytest.approx((low[0], high[0]))
    assert coverage(low, high, truth) >= 0.93


def test_values_equal_but_for_rounding_count_as_ties_and_keep_the_interval_finite_and_near_the_data():
    """Per-prompt slopes of a law most prompts share differ in the last bits (a matrix product's rounding);
    a resample of those has se* of about 1e-17, and its t* once put a bound at -3e12. The interval stays within
    the data's range widened by that range."""
    rng = np.random.default_rng(17)
    shared = 0.121875 + rng.choice([0.0, 1.4e-17, -1.4e-17], size=40)
    values = np.concatenate([shared[:37], [0.05, 0.08, 0.1]])
    low, high = mean_interval(values, FLOOR)
    spread = values.max() - values.min()
    assert values.min() - spread < low < values.mean() < high < values.max() + spread
