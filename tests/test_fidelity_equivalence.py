"""Sampler fidelity's equivalence test (TOST over prompts) against planted truth and independent computations.

Simulations are seeded; a rate from R data sets is held to its bound within 3 Monte-Carlo standard errors,
3 * sqrt(p (1 - p) / R) at the bound's p (0.010 for a size of 0.05 at R = 4,000).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import integrate
from scipy import stats as sps

from harness.analysis.fidelity import (
    ALPHA,
    CANNOT_SHOW,
    EQUIVALENT,
    MIN_SPREAD_SEEDS,
    NOT_SHOWN,
    cheapest_line,
    equivalence,
    fewest_seeds,
    lpips_seed_spread,
    mark_cheapest,
    point_verdict,
    seed_spread,
    tost,
)
from harness.report.html import fidelity_view
from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import prompt_differences

OPTIONS = BootstrapOptions()  # what summarise_fidelity uses: 1,000 resamples, an interval from 8 prompts
FLOOR_FIVE = BootstrapOptions(min_n=5)  # the floor no interval goes below


def mc_bound(p: float, reps: int) -> float:
    return 3 * np.sqrt(p * (1 - p) / reps)


def t_tost_power(n: int, sd: float, margin: float, alpha: float) -> float:
    """Exact power of the two one-sided t-tests at true mean 0 for normal per-prompt differences: the mean must
    fall inside (-margin + c s / sqrt(n), margin - c s / sqrt(n)), integrated over s^2 (n - 1) / sd^2 ~ chi2."""
    c, se = sps.t.ppf(1 - alpha, n - 1), sd / np.sqrt(n)
    widest = (margin / (c * se)) ** 2 * (n - 1)  # beyond it c s / sqrt(n) >= margin: no mean passes

    def passing(u: float) -> float:
        half = c * se * np.sqrt(u / (n - 1))
        inside = sps.norm.cdf((margin - half) / se) - sps.norm.cdf((-margin + half) / se)
        return inside * sps.chi2.pdf(u, n - 1)

    return integrate.quad(passing, 0, widest)[0]


def bootstrap_t_bounds(d: np.ndarray, options: BootstrapOptions, level: float) -> tuple[float, float]:
    """The studentized bootstrap interval of mean(d), by hand: the same resample indices as options.seed draws."""
    n = len(d)
    resampled = d[np.random.default_rng(options.seed).integers(0, n, size=(options.resamples, n))]
    t = (resampled.mean(1) - d.mean()) / (resampled.std(1, ddof=1) / np.sqrt(n))
    q_low, q_high = np.quantile(t, [(1 - level) / 2, (1 + level) / 2])
    return d.mean() - q_high * sps.sem(d), d.mean() - q_low * sps.sem(d)


def test_the_decision_is_both_one_sided_t_tests_and_both_bootstrap_t_bounds_inside_the_margin():
    rng = np.random.default_rng(11)
    decisions = []
    for _ in range(150):
        n, margin = int(rng.integers(8, 20)), 1.0
        d = rng.normal(rng.uniform(-1.2, 1.2), rng.uniform(0.2, 1.5), size=n)
        t_lower = sps.ttest_1samp(d, -margin, alternative="greater").pvalue < ALPHA
        t_upper = sps.ttest_1samp(d, margin, alternative="less").pvalue < ALPHA
        low, high = bootstrap_t_bounds(d, OPTIONS, 1 - 2 * ALPHA)
        by_hand = t_lower and t_upper and low > -margin and high < margin
        result = equivalence(d, margin, seeds=MIN_SPREAD_SEEDS, options=OPTIONS)
        assert result.equivalent == by_hand and result.reason == ""
        t_low, t_high = sps.t.interval(1 - 2 * ALPHA, n - 1, loc=d.mean(), scale=sps.sem(d))
        assert result.low == pytest.approx(min(t_low, low), rel=1e-9)
        assert result.high == pytest.approx(max(t_high, high), rel=1e-9)
        decisions.append(by_hand)
    assert 0.2 < np.mean(decisions) < 0.8  # both outcomes are exercised


@pytest.mark.parametrize(("n", "side"), [(8, 1.0), (8, -1.0), (16, 1.0), (16, -1.0)])
def test_a_point_planted_at_the_margin_passes_at_most_alpha_of_the_time(n, side):
    reps, margin = 4000, 1.0
    d = np.random.default_rng(n + int(side > 0)).normal(side * margin, 1.0, size=(reps, n))
    _, _, passed = tost(d, margin, OPTIONS)
    assert passed.mean() <= ALPHA + mc_bound(ALPHA, reps)


def test_a_point_planted_equivalent_passes_between_the_t_tests_power_at_alpha_and_at_half_alpha():
    # The hull's interval contains Student t's, so it passes no more often than the t-TOST (exact, normal
    # theory); at 16 prompts its bootstrap-t part costs less power than halving alpha would.
    reps, n, sd, margin = 4000, 16, 1.0, 1.0
    d = np.random.default_rng(3).normal(0.0, sd, size=(reps, n))
    rate = tost(d, margin, OPTIONS)[2].mean()
    ceiling, floor = t_tost_power(n, sd, margin, ALPHA), t_tost_power(n, sd, margin, ALPHA / 2)
    assert ceiling == pytest.approx(0.970, abs=0.001) and floor == pytest.approx(0.924, abs=0.001)
    assert floor - mc_bound(floor, reps) <= rate <= ceiling + mc_bound(ceiling, reps)


def test_at_the_seed_studys_eight_prompts_a_close_point_passes_at_least_095():
    # Per-prompt differences varying half as much as the margin: the t-TOST's exact power is 0.9993.
    reps, n = 4000, 8
    d = np.random.default_rng(8).normal(0.0, 0.5, size=(reps, n))
    rate = tost(d, 1.0, OPTIONS)[2].mean()
    assert t_tost_power(n, 0.5, 1.0, ALPHA) == pytest.approx(0.9993, abs=0.0001)
    assert 0.95 - mc_bound(0.95, reps) <= rate <= t_tost_power(n, 0.5, 1.0, ALPHA) + mc_bound(0.999, reps)


def _samples(rng: np.random.Generator, effects: np.ndarray, seeds: int, shift: float = 0.0) -> pd.DataFrame:
    """Scores of one prompt per effect x `seeds` seeds: the prompt's effect plus seed noise of SD 1, plus `shift`."""
    prompts = len(effects)
    return pd.DataFrame(
        {
            "prompt_id": np.repeat([f"p{i:02d}" for i in range(prompts)], seeds),
            "seed": np.tile(np.arange(seeds), prompts),
            "clip.score": np.repeat(effects, seeds) + shift + rng.normal(0.0, 1.0, prompts * seeds),
        }
    )


def _score_test(reference: pd.DataFrame, point: pd.DataFrame, options: BootstrapOptions):
    a, b = (s.set_index(["prompt_id", "seed"])["clip.score"] for s in (reference, point))
    d = prompt_differences(a, b)
    return equivalence(d, seed_spread(reference, "clip.score"), fewest_seeds(reference), options)


def test_a_spread_from_two_seeds_never_passes_even_for_a_point_identical_to_the_reference():
    rng = np.random.default_rng(2)
    for _ in range(20):
        reference = _samples(rng, rng.normal(0.0, 2.0, 16), seeds=2)
        result = _score_test(reference, reference, OPTIONS)
        assert not result.equivalent and np.isnan(result.low)
        assert result.reason == "the reference's spread is from 2 seed(s) per prompt, fewer than 4"
        assert point_verdict({"clip.score": result}) == (False, f"{CANNOT_SHOW}: {result.reason}")


def test_fewer_prompts_than_the_interval_floor_never_pass():
    identical = np.zeros(4)
    assert (
        equivalence(identical, 1.0, seeds=8, options=FLOOR_FIVE).reason
        == "4 prompt(s), fewer than the 5 an interval needs"
    )
    assert not equivalence(identical, 1.0, seeds=8, options=FLOOR_FIVE).equivalent
    assert equivalence(np.zeros(5), 1.0, seeds=8, options=FLOOR_FIVE).equivalent  # from the floor on it can pass
    assert not equivalence(np.zeros(7), 1.0, seeds=8, options=OPTIONS).equivalent  # bootstrap.min_n = 8 by default
    assert not equivalence(np.zeros(8), 0.0, seeds=8, options=OPTIONS).equivalent  # no spread, no margin


def test_planted_points_through_the_score_path_pass_at_the_rate_their_truth_allows():
    # 16 prompts x 6 seeds, the point drawn afresh for the same prompts: its per-prompt differences have SD
    # sqrt(2 / 6) = 0.58 of a seed SD, the margin (t-TOST exact power 0.9999 at shift 0); a point shifted by
    # 2 seed SDs lies a whole margin outside it.
    rng = np.random.default_rng(4)
    close, far = [], []
    for _ in range(100):
        effects = rng.normal(0.0, 2.0, 16)
        reference = _samples(rng, effects, seeds=6)
        close.append(_score_test(reference, _samples(rng, effects, seeds=6), OPTIONS).equivalent)
        far.append(_score_test(reference, _samples(rng, effects, seeds=6, shift=2.0), OPTIONS).equivalent)
    assert np.mean(close) >= 0.95 and not any(far)


def test_a_point_passes_only_when_every_quantity_passes():
    passing = equivalence(np.zeros(8) + np.linspace(-0.1, 0.1, 8), 1.0, seeds=4, options=OPTIONS)
    failing = equivalence(np.full(8, 3.0) + np.linspace(-0.1, 0.1, 8), 1.0, seeds=4, options=OPTIONS)
    assert point_verdict({"lpips": passing, "clip.score": passing}) == (True, EQUIVALENT)
    assert point_verdict({"lpips": passing, "clip.score": failing}) == (False, f"{NOT_SHOWN}: clip.score")


def test_the_cheapest_point_is_always_one_that_passed_and_never_the_reference():
    rng = np.random.default_rng(6)
    for _ in range(300):
        k = int(rng.integers(1, 8))
        table = pd.DataFrame(
            {
                "reference": np.arange(k) == 0,
                "equivalent": rng.random(k) < 0.4,
                "forwards_per_image": rng.choice([15.0, 30.0, 52.0, 127.0, np.nan], size=k),
            }
        )
        marked = mark_cheapest(table.copy())
        candidates = table[table["equivalent"] & ~table["reference"] & table["forwards_per_image"].notna()]
        if candidates.empty:
            assert not marked["cheapest"].any()
        else:
            (chosen,) = marked.index[marked["cheapest"]]
            assert chosen in candidates.index
            assert marked.loc[chosen, "forwards_per_image"] == candidates["forwards_per_image"].min()


def test_the_log_line_says_why_no_point_is_cheapest():
    table = pd.DataFrame(
        {
            "point": ["ref", "fast", "faster"],
            "reference": [True, False, False],
            "equivalent": [False, False, False],
            "verdict": [
                "reference",
                f"{CANNOT_SHOW}: 1 prompt(s), fewer than the 8 an interval needs",
                f"{NOT_SHOWN}: lpips",
            ],
            "forwards_per_image": [127.0, 35.0, 15.0],
        }
    )
    line = cheapest_line(mark_cheapest(table))
    assert line.startswith("no point is shown equivalent to the reference (TOST at alpha 0.05), so none is cheapest")
    assert (
        "1 point(s): cannot show equivalence at this n: 1 prompt(s)" in line
        and "1 point(s): not shown equivalent: lpips" in line
    )


class _MeanAbsoluteDifference(torch.nn.Module):
    """A stand-in perceptual distance with a closed form: the mean absolute pixel difference in [-1, 1] units."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().mean().reshape(1, 1, 1, 1)


def test_the_lpips_margin_is_the_mean_over_prompts_of_the_mean_distance_between_each_pair_of_seeds(tmp_path):
    rng = np.random.default_rng(0)
    pixels, rows = {}, []
    for prompt, seeds in (("p1", 3), ("p2", 2), ("p3", 1)):
        for seed in range(seeds):
            image = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
            path = tmp_path / f"{prompt}_{seed}.png"
            Image.fromarray(image).save(path)
            pixels[prompt, seed] = image.astype(np.float64) / 127.5
            rows.append({"prompt_id": prompt, "seed": seed, "path_256": str(path)})

    def dist(p, s, t):
        return np.abs(pixels[p, s] - pixels[p, t]).mean()

    expected = np.mean([np.mean([dist("p1", 0, 1), dist("p1", 0, 2), dist("p1", 1, 2)]), dist("p2", 0, 1)])
    assert lpips_seed_spread(_MeanAbsoluteDifference(), pd.DataFrame(rows)) == pytest.approx(expected, rel=1e-6)


def test_the_report_shows_each_quantitys_difference_interval_margin_and_the_verdict():
    table = pd.DataFrame(
        [
            {"point": "base_steps=10", "reference": False, "cheapest": True, "note": "", "verdict": EQUIVALENT,
             "forwards_per_image": 15.0, "seconds_per_image": 0.5, "lpips": 0.25, "clip_cosine": 0.9, "fid": None,
             "clip_fd": None, "diff.lpips": 0.25, "spread.lpips": 0.5, "eq_low.lpips": 0.2, "eq_high.lpips": 0.3,
             "equivalent.lpips": True},
        ]
    )  # fmt: skip
    view = fidelity_view([table])
    assert view["header"][-2:] == ["lpips: diff [interval] / margin", "verdict"]
    cell, verdict = view["rows"][0]["cells"][-2:]
    assert cell["text"] == "0.25 [0.2, 0.3] / 0.5" and cell["title"] == "inside ±margin"
    assert verdict["text"] == EQUIVALENT and view["rows"][0]["point"].endswith("— cheapest")
    assert view["level"] == "90%" and view["alpha"] == ALPHA
