"""Paired comparisons of sweep cells against an independent NumPy computation, and Holm against hand values."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import adjacent_comparisons, holm, paired_comparison

OPTIONS = BootstrapOptions(resamples=500, seed=3, level=0.9, min_n=8)


def cell(scores: np.ndarray) -> pd.Series:
    """Scores (prompts, seeds) as a series indexed by (prompt_id, seed), prompts named so text order = index."""
    prompts, seeds = scores.shape
    index = pd.MultiIndex.from_product(
        [[f"p{i:02d}" for i in range(prompts)], range(seeds)], names=["prompt_id", "seed"]
    )
    return pd.Series(scores.reshape(-1), index=index)


def by_hand(a: np.ndarray, b: np.ndarray, options: BootstrapOptions) -> tuple[float, float, float, float]:
    """Mean of per-prompt differences, its interval over prompts (the hull of Student t and bootstrap-t) and
    the sign-flip p-value."""
    d = (b - a).mean(axis=1)
    j = len(d)
    rng = np.random.default_rng(options.seed)
    idx = rng.integers(0, j, size=(options.resamples, j))
    star = d[idx]
    t = (star.mean(1) - d.mean()) / (star.std(1, ddof=1) / np.sqrt(j))
    alpha = (1 - options.level) / 2
    q_low, q_high = np.quantile(t, [alpha, 1 - alpha])
    se = d.std(ddof=1) / np.sqrt(j)
    t_low, t_high = sps.t.interval(options.level, j - 1, d.mean(), se)
    flips = np.random.default_rng(options.seed).integers(0, 2, size=(options.resamples, j)) * 2.0 - 1.0
    hits = np.sum(np.abs((flips * d).mean(1)) >= abs(d.mean()) * (1 - 1e-12))
    low, high = min(d.mean() - q_high * se, t_low), max(d.mean() - q_low * se, t_high)
    return d.mean(), low, high, (1 + hits) / (1 + options.resamples)


def test_paired_comparison_equals_an_independent_cluster_bootstrap_and_permutation():
    rng = np.random.default_rng(0)
    prompt_effect = rng.normal(0, 3, size=(20, 1))
    a = prompt_effect + rng.normal(0, 1, size=(20, 4))
    b = prompt_effect + 0.5 + rng.normal(0, 1, size=(20, 4))
    result = paired_comparison(cell(a), cell(b), OPTIONS)
    diff, low, high, p = by_hand(a, b, OPTIONS)
    assert result.diff == pytest.approx(diff, rel=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-12)
    assert result.p == pytest.approx(p, rel=1e-12)
    assert result.n_prompts == 20 and "bootstrap-t" in result.method


def test_few_prompts_get_no_interval_and_the_exact_sign_flip_distribution():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 3)), rng.normal(0.8, 1, size=(5, 3))
    result = paired_comparison(cell(a), cell(b), OPTIONS)
    d = (b - a).mean(axis=1)
    assert np.isnan(result.ci_low) and np.isnan(result.ci_high) and "no interval below 8 prompts" in result.method
    flipped = [abs(np.mean(np.array(s) * d)) for s in itertools.product([-1, 1], repeat=5)]
    assert result.p == pytest.approx(np.mean(np.array(flipped) >= abs(d.mean()) * (1 - 1e-12)), rel=1e-12)
    assert "exact, 32" in result.method


def test_only_prompt_seed_pairs_both_cells_hold_are_compared():
    a, b = cell(np.arange(12.0).reshape(4, 3)), cell(np.arange(12.0).reshape(4, 3) + 2.0)
    result = paired_comparison(a.drop(("p03", 2)), b.drop(("p00", 0)), OPTIONS)
    assert result.n_prompts == 4 and result.diff == pytest.approx(2.0)


def test_holm_matches_a_hand_computation():
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06.
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
    adjusted = holm([0.02, np.nan, 0.01])
    assert np.isnan(adjusted[1]) and adjusted[[0, 2]] == pytest.approx([0.02, 0.02])


def test_adjacent_comparisons_pair_neighbouring_values_of_a_swept_parameter():
    rng = np.random.default_rng(2)
    rows = []
    scales = (10.0, 1.0, 3.0)  # numeric order 1, 3, 10, not text order
    scores = {s: {m: rng.normal(s, 1, size=(6, 2)) for m in ("clip/score", "bias/interest_share")} for s in scales}
    for s in scales:
        for metric, values in scores[s].items():
            for (prompt, seed), value in cell(values).items():
                rows.append({"guidance_scale": s, "prompt_id": prompt, "seed": seed, "metric": metric, "value": value})
    table = adjacent_comparisons(pd.DataFrame(rows), "guidance_scale", OPTIONS)
    assert list(table.columns) == [
        "param", "value_a", "value_b", "metric", "diff", "ci_low", "ci_high", "p", "p_holm", "n_prompts", "method"
    ]  # fmt: skip
    assert list(zip(table["metric"], table["value_a"], table["value_b"], strict=True)) == [
        ("bias/interest_share", 1.0, 3.0), ("bias/interest_share", 3.0, 10.0),
        ("clip/score", 1.0, 3.0), ("clip/score", 3.0, 10.0),
    ]  # fmt: skip
    for row in table.itertuples():
        a, b = scores[row.value_a][row.metric], scores[row.value_b][row.metric]
        assert row.diff == pytest.approx((b - a).mean(), rel=1e-12)
        assert row.n_prompts == 6
    np.testing.assert_allclose(table["p_holm"], holm(table["p"].to_numpy()))
    assert (table["param"] == "guidance_scale").all()
