"""Findings: verdicts of hand-built sweeps (trends over every value, rank claims, the bias share read per
prompt) checked against NumPy/SciPy computations, no verdict on random weights or an unvalidated probe."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.analysis.findings import (
    INCONCLUSIVE,
    NO_VERDICT_MISSING,
    NO_VERDICT_RANDOM,
    NO_VERDICT_RUN_METRIC,
    NO_VERDICT_UNVALIDATED,
    NOT_SUPPORTED,
    SUPPORTED,
    finding_from_config,
    findings,
    group_intervals,
)
from harness.config.schema import FindingConfig
from harness.tracking import flatten_config

CLAIM = "the lake takes up most of the image at 5.0"
LAKE = FindingConfig(metric="detect.coverage.lake", compare="sampler.guidance_scale", expect="increase")


def sweep_samples(curve: list[float], *, prompts: int = 8, seeds: int = 2, noise: float = 0.05) -> pd.DataFrame:
    """A guidance sweep at equal prompts and seeds: each prompt's own level plus `curve` at each scale."""
    rng = np.random.default_rng(0)
    levels = rng.normal(0.0, 1.0, prompts)
    rows = [
        {
            "prompt_id": f"p{j}",
            "seed": seed,
            "guidance_scale": scale,
            "detect.coverage.lake": level + step + rng.normal(0.0, noise),
        }
        for scale, step in zip([1.0, 2.0, 3.0, 5.0, 7.0, 10.0][: len(curve)], curve, strict=True)
        for j, level in enumerate(levels)
        for seed in range(seeds)
    ]
    return pd.DataFrame(rows)


def verdict(samples: pd.DataFrame, finding: FindingConfig = LAKE, *, random_weights: bool = False, runs=()) -> str:
    (row,) = findings(finding, CLAIM, samples=samples, runs=runs, random_weights=random_weights)
    return row.verdict


def test_a_rise_over_every_value_supports_an_increase():
    assert verdict(sweep_samples([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])) == SUPPORTED


def test_one_rising_step_then_a_fall_does_not_support_an_increase():
    # The first step rises clearly; the curve then falls back: the slope over every value is negative.
    assert verdict(sweep_samples([0.0, 0.5, 0.4, 0.3, 0.2, 0.1])) == NOT_SUPPORTED


def test_a_rise_that_collapses_at_the_last_value_is_not_supported():
    # The slope over all values is positive (2.5 / 17.5 per step) but the last step falls significantly.
    (row,) = findings(LAKE, CLAIM, samples=sweep_samples([0.0, 0.5, 1.0, 1.5, 2.0, 0.0]), runs=(), random_weights=False)
    assert row.verdict == NOT_SUPPORTED and "against: 7.0→10.0" in row.measured


def test_decrease_mirrors_increase():
    falling = FindingConfig(metric="detect.coverage.lake", compare="guidance_scale", expect="decrease")
    samples = sweep_samples([0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    assert verdict(samples, falling) == SUPPORTED
    assert verdict(samples) == NOT_SUPPORTED


def test_four_prompts_cannot_support_a_trend_however_steep():
    # A one-sided sign-flip over 4 prompts has 2**4 equally likely sign patterns: its smallest p is 1/16.
    assert verdict(sweep_samples([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], prompts=4)) == INCONCLUSIVE


def test_the_measured_slope_and_p_are_those_of_per_prompt_slopes_over_all_values():
    samples = sweep_samples([0.0, 0.02, 0.01, 0.05, 0.04, 0.06], noise=0.02)
    (row,) = findings(LAKE, CLAIM, samples=samples, runs=(), random_weights=False)
    # Independently: per prompt, seeds averaged, NumPy's least-squares line against ranks 0..5; the exact
    # one-sided p over all 2**8 sign vectors of the slopes.
    means = samples.groupby(["prompt_id", "guidance_scale"])["detect.coverage.lake"].mean().unstack()
    slopes = np.array([np.polyfit(np.arange(6), row, 1)[0] for row in means.to_numpy()])
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=len(slopes))))
    p = np.mean(signs @ slopes >= slopes.sum() * (1 - 1e-12))
    assert row.measured.startswith(f"slope per step {slopes.mean():.4g} [")
    assert f"one-sided p_holm {p:.4g}, 8 prompts" in row.measured
    assert "1.0: " in row.measured and "10.0: " in row.measured


def test_random_weights_show_the_numbers_but_no_verdict():
    assert verdict(sweep_samples([0.0, 0.1, 0.2]), random_weights=True) == NO_VERDICT_RANDOM


def test_a_scorers_own_random_weights_give_its_metrics_no_verdict_and_leave_the_others_alone():
    """A run whose detect scorer read tiny random weights (on pictures that are real, e.g. the toy world's) says
    so in its metrics; the same rising curve is supported when the detector is a real one."""
    rising = sweep_samples([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    random_detector = [{"metrics": {"detect/random_weights": 1.0}, "overrides": {}, "config": {}}]
    real_detector = [{"metrics": {"detect/random_weights": 0.0}, "overrides": {}, "config": {}}]
    assert verdict(rising, runs=random_detector) == NO_VERDICT_RANDOM
    assert verdict(rising, runs=real_detector) == SUPPORTED
    other = FindingConfig(metric="clip.score", compare="sampler.guidance_scale", expect="increase")
    renamed = rising.rename(columns={"detect.coverage.lake": "clip.score"})
    assert verdict(renamed, other, runs=random_detector) == SUPPORTED


def test_a_metric_missing_from_the_samples_gets_no_verdict():
    samples = sweep_samples([0.0, 0.1, 0.2]).rename(columns={"detect.coverage.lake": "clip.score"})
    assert verdict(samples) == NO_VERDICT_MISSING


def test_group_intervals_average_seeds_then_prompts_and_leave_controls_out():
    prompts = [f"q{i}" for i in range(8)]
    samples = pd.DataFrame(
        {
            "prompt_id": [p for p in prompts for _ in range(2)] + ["a", "b", "k"],
            "tag.style": ["pixel art"] * 16 + ["photograph"] * 2 + ["pixel art"],
            "expected_class": [None] * 18 + ["pixel_art"],
            "style.p_intended": [*np.linspace(0.1, 0.6, 16), 0.9, 0.8, 1.0],
        }
    )
    groups = group_intervals(samples, "style.p_intended", "tag.style").set_index("value")
    means = np.linspace(0.1, 0.6, 16).reshape(8, 2).mean(axis=1)  # seeds averaged; the control k left out
    t_low, _ = sps.t.interval(0.95, 7, loc=means.mean(), scale=sps.sem(means))
    assert groups.loc["pixel art", "mean"] == pytest.approx(means.mean())
    assert groups.loc["pixel art", "ci_low"] <= t_low + 1e-12  # the hull holds Student t's interval
    assert groups.loc["pixel art", "n_prompts"] == 8
    # Two prompts: below the 5 an interval needs to cover, none is shown.
    assert groups.loc["photograph", "n_prompts"] == 2 and np.isnan(groups.loc["photograph", "ci_low"])


def style_samples(pixel: float, others: float, *, prompts: int = 6) -> pd.DataFrame:
    """Styles at different prompts: each style's prompts score around its level."""
    rng = np.random.default_rng(1)
    rows = [
        {"prompt_id": f"{style}{j}", "seed": 0, "tag.style": style, "style.p_intended": level + rng.normal(0, 0.02)}
        for style, level in (("pixel art", pixel), ("photograph", others), ("oil painting", others))
        for j in range(prompts)
    ]
    return pd.DataFrame(rows)


STYLE = FindingConfig(metric="style.p_intended", compare="tag.style", expect="lowest", target="pixel art")
VALIDATED = [{"metrics": {"style/validated": 1.0}, "overrides": {}}]


def test_a_rank_claim_over_different_prompts_is_read_from_a_two_sample_test_not_intervals():
    (row,) = findings(STYLE, "", samples=style_samples(0.2, 0.6), runs=VALIDATED, random_weights=False)
    assert row.verdict == SUPPORTED and row.basis.startswith("two-sample permutation")
    # Exact two-sample permutation over 6 + 6 prompts: 1 / C(12, 6) two-sided, doubled by Holm over two.
    assert f"p_holm {2 * 2 / math.comb(12, 6):.4g}" in row.measured
    (row,) = findings(STYLE, "", samples=style_samples(0.6, 0.2), runs=VALIDATED, random_weights=False)
    assert row.verdict == NOT_SUPPORTED


def test_a_probe_metric_gets_no_verdict_unless_every_run_validated_the_probe():
    samples = style_samples(0.2, 0.6)
    for validated, expected in ((0.0, NO_VERDICT_UNVALIDATED), (1.0, SUPPORTED)):
        runs = [{"metrics": {"style/validated": validated}, "overrides": {}}]
        (row,) = findings(STYLE, "", samples=samples, runs=runs, random_weights=False)
        assert row.verdict == expected


def church_samples(shares: list[float], *, prompts: int = 8, seeds: int = 16) -> pd.DataFrame:
    """Probe images labelled church with each guidance's share (the same for every prompt), plus a control."""
    rng = np.random.default_rng(2)
    rows = [
        {
            "prompt_id": f"p{j}",
            "seed": seed,
            "guidance_scale": scale,
            "expected_class": None,
            "bias.pred": "church" if rng.random() < share else "mosque",
        }
        for scale, share in zip(["1.0", "3.0", "10.0"], shares, strict=True)
        for j in range(prompts)
        for seed in range(seeds)
    ]
    control = {"prompt_id": "c", "seed": 0, "guidance_scale": "1.0", "expected_class": "mosque", "bias.pred": "church"}
    return pd.DataFrame([*rows, control])


CHURCH = FindingConfig(metric="bias/interest_share", compare="sampler.guidance_scale", expect="increase")


def church_runs(interest: str = "church") -> list[dict]:
    config = {"scorer.bias.class_of_interest": interest}
    return [{"metrics": {"bias/validated": 1.0}, "overrides": {}, "config": config}]


def test_the_run_metric_share_is_tested_as_per_prompt_shares_over_every_setting():
    samples = church_samples([0.2, 0.5, 0.8])
    (row,) = findings(CHURCH, "", samples=samples, runs=church_runs(), random_weights=False)
    assert row.verdict == SUPPORTED and row.basis.startswith("per-prompt slope")
    # Independently: each prompt's share of church at each guidance (controls left out), its slope per step.
    probe = samples[samples["expected_class"].isna()]
    shares = (probe["bias.pred"] == "church").groupby([probe["prompt_id"], probe["guidance_scale"]]).mean()
    shares = shares.unstack()[["1.0", "3.0", "10.0"]].to_numpy()
    slope = np.mean([np.polyfit(np.arange(3), row, 1)[0] for row in shares])
    assert row.measured.startswith(f"slope per step {slope:.4g} [")
    (row,) = findings(CHURCH, "", samples=samples, runs=church_runs("mosque"), random_weights=False)
    assert row.verdict == NOT_SUPPORTED


def test_a_run_metric_without_per_sample_labels_gets_no_verdict():
    (row,) = findings(CHURCH, "", samples=pd.DataFrame(), runs=church_runs(), random_weights=False)
    assert row.verdict == NO_VERDICT_RUN_METRIC


def test_the_finding_round_trips_through_a_flattened_run_config():
    finding = FindingConfig(
        metric="quality.sharpness_256", compare="sampler.upsample_temp", expect="increase", also=["quality.noise_256"]
    )
    flat = flatten_config({"finding": {**vars(finding)}, "note": "x"})
    assert finding_from_config(flat) == finding
    assert finding_from_config(flatten_config({"finding": None})) is None


def paired_samples(shift: float, *, prompts: int = 7, spread: float = 5.0, noise: float = 0.05) -> pd.DataFrame:
    """Two guidances at equal prompts and seeds: prompt effects `spread` wide, classifier_free `shift` above,
    the CLIP guide pooled over two scales; per-sample noise small beside the prompt effects."""
    rng = np.random.default_rng(0)
    effects = rng.normal(0, spread, prompts)
    rows = []
    for guidance, cells, offset in (("classifier_free", 1, shift), ("clip", 2, 0.0)):
        for cell in range(cells):
            for j, effect in enumerate(effects):
                for seed in range(2):
                    score = effect + offset + rng.normal(0, noise)
                    rows.append({"prompt_id": f"p{j}", "seed": seed, "guidance": guidance, "cell": cell, "s": score})
    return pd.DataFrame(rows)


CFG_ABOVE = FindingConfig(metric="s", compare="guidance", expect="highest", target="classifier_free")


def test_a_rank_claim_at_equal_prompts_is_read_from_per_prompt_differences():
    samples = paired_samples(0.5, prompts=9)
    (row,) = findings(CFG_ABOVE, CLAIM, samples=samples, runs=(), random_weights=False)
    # Independently: each prompt's mean under each guidance (seeds and pooled cells averaged), then the mean
    # of the per-prompt differences; its interval over the 9 prompts holds Student t's (the hull with bootstrap-t).
    means = samples.groupby(["guidance", "prompt_id"])["s"].mean().unstack(0)
    d = (means["classifier_free"] - means["clip"]).to_numpy()
    low, high = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=d.std(ddof=1) / np.sqrt(len(d)))
    shown = row.measured.removeprefix(f"classifier_free − clip: {d.mean():.4g} [").split("]")[0]
    shown_low, shown_high = map(float, shown.split(", "))
    assert shown_low <= float(f"{low:.4g}") and shown_high >= float(f"{high:.4g}")
    assert row.verdict == SUPPORTED and row.basis.startswith("paired comparisons")


def test_a_paired_rank_claim_against_the_data_is_not_supported():
    samples = paired_samples(-0.5)
    (row,) = findings(CFG_ABOVE, CLAIM, samples=samples, runs=(), random_weights=False)
    assert row.verdict == NOT_SUPPORTED


def test_three_prompts_cannot_support_a_paired_rank_claim_however_large_the_shift():
    # A sign-flip test over 3 prompts has 2**3 equally likely sign patterns: its smallest p is 2/8 = 0.25.
    samples = paired_samples(10.0, prompts=3)
    (row,) = findings(CFG_ABOVE, CLAIM, samples=samples, runs=(), random_weights=False)
    assert row.verdict == INCONCLUSIVE


def test_groups_of_different_prompts_fall_back_to_separate_intervals():
    samples = paired_samples(0.5)
    samples = samples[~((samples["guidance"] == "clip") & (samples["prompt_id"] == "p0"))]
    (row,) = findings(CFG_ABOVE, CLAIM, samples=samples, runs=(), random_weights=False)
    assert row.basis.startswith("two-sample permutation")


def test_exploratory_prompts_get_their_own_row_and_never_enter_the_verdict():
    rising = sweep_samples([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    seed_prompt = sweep_samples([0.0, -1.0, -2.0, -3.0, -4.0, -5.0], prompts=1).assign(prompt_id="seed")
    samples = pd.concat([rising.assign(**{"tag.role": None}), seed_prompt.assign(**{"tag.role": "exploratory"})])
    confirmatory, exploratory = findings(LAKE, CLAIM, samples=samples, runs=(), random_weights=False)
    (alone,) = findings(LAKE, CLAIM, samples=rising, runs=(), random_weights=False)
    assert confirmatory == alone and confirmatory.verdict == SUPPORTED  # the falling seed prompt changes nothing
    # Independently: the seed prompt's own least-squares slope against ranks 0..5, seeds averaged.
    means = seed_prompt.groupby("guidance_scale")["detect.coverage.lake"].mean().to_numpy()
    assert exploratory.measured.startswith(f"slope per step {np.polyfit(np.arange(6), means, 1)[0]:.4g} ")
    assert exploratory.verdict == "exploratory: the claim was made from this prompt"
    assert exploratory.design.startswith("1 exploratory prompt (seed)")
    (shown,) = findings(LAKE, CLAIM, samples=samples, runs=(), random_weights=True)[1:]
    assert shown.verdict == exploratory.verdict  # never a verdict, so nothing to overrule


STYLES = ("oil painting", "photograph", "pixel art", "chinese ink painting")
PIXEL_LOWEST = FindingConfig(
    metric="style.p_intended", compare="tag.style", expect="lowest", target="pixel art", pair_by="tag.subject"
)


def style_grid(subjects: int, drop: float) -> pd.DataFrame:
    """Every subject in every style (one prompt each, two seeds): subjects differ widely, pixel art `drop` lower."""
    rng = np.random.default_rng(3)
    rows = []
    for j, level in enumerate(rng.normal(0, 3.0, subjects)):
        for style in STYLES:
            for seed in range(2):
                score = level - drop * (style == "pixel art") + rng.normal(0, 0.3)
                rows.append({"prompt_id": f"s{j}_{style}", "seed": seed, "tag.subject": f"s{j}",
                             "tag.style": style, "style.p_intended": score})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_subject_by_style_grid_is_read_as_paired_contrasts_per_subject():
    samples = style_grid(7, drop=0.6)
    (row,) = findings(PIXEL_LOWEST, CLAIM, samples=samples, runs=(), random_weights=False)
    # Independently: each subject's pixel-art mean minus each other style's, the exact two-sided sign-flip p
    # over all 2**7 sign vectors, then Holm over the three contrasts.
    means = samples.groupby(["tag.subject", "tag.style"])["style.p_intended"].mean().unstack()
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=7)))
    others = ["chinese ink painting", "oil painting", "photograph"]
    d = {o: (means["pixel art"] - means[o]).to_numpy() for o in others}
    p = np.array([np.mean(np.abs(signs @ d[o]) >= abs(d[o].sum()) * (1 - 1e-12)) for o in others])
    order = np.argsort(p)
    holm = np.empty(3)
    holm[order] = np.minimum(np.maximum.accumulate(p[order] * (3 - np.arange(3))), 1)
    for other, adjusted in zip(others, holm, strict=True):
        assert f"pixel art − {other}: {d[other].mean():.4g} [" in row.measured
        assert f"p_holm {adjusted:.4g}, 7 subjects" in row.measured
    assert row.verdict == SUPPORTED and row.basis.startswith("paired comparisons over shared subjects")
    assert row.design.startswith("7 subjects x 4 styles; MDE")


def test_a_grid_too_small_for_its_holm_family_cannot_support_the_claim():
    # 4 subjects: each contrast's smallest two-sided p is 2/16, times 3 by Holm: nothing can reach 0.05.
    (row,) = findings(PIXEL_LOWEST, CLAIM, samples=style_grid(4, drop=5.0), runs=(), random_weights=False)
    assert row.verdict == INCONCLUSIVE and "cannot decide (smallest p_holm 0.375" in row.design
