"""Findings: verdicts read from hand-built comparison tables, group intervals against SciPy, no verdict on
random weights or an unvalidated probe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.config import FindingConfig
from harness.findings import (
    INCONCLUSIVE,
    NO_VERDICT_MISSING,
    NO_VERDICT_RANDOM,
    NO_VERDICT_UNVALIDATED,
    NOT_SUPPORTED,
    SUPPORTED,
    finding_from_config,
    findings,
    group_intervals,
    rank_verdict,
)
from harness.tracking import flatten_config

CLAIM = "the lake takes up most of the image at 5.0"
LAKE = FindingConfig(metric="detect.coverage.lake", compare="sampler.guidance_scale", expect="increase")


def comparisons(*steps: tuple[float, float, float, float, float]) -> pd.DataFrame:
    """Rows of paired_comparisons.parquet: (value_a, value_b, diff, ci_low, ci_high, p_holm) per step."""
    rows = [
        {
            "param": "sampler.guidance_scale",
            "held": "(none)",
            "value_a": a,
            "value_b": b,
            "metric": "detect.coverage.lake",
            "diff": d,
            "ci_low": lo,
            "ci_high": hi,
            "p": p,
            "p_holm": p,
            "n_prompts": 12,
        }
        for a, b, d, lo, hi, p in steps
    ]
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame, finding: FindingConfig = LAKE, *, random_weights: bool = False, runs=()) -> str:
    (row,) = findings(
        finding, CLAIM, comparisons=table, samples=pd.DataFrame(), runs=runs, random_weights=random_weights
    )
    return row.verdict


def test_a_significant_step_in_the_expected_direction_supports_an_increase():
    table = comparisons((1.0, 3.0, 0.10, 0.04, 0.16, 0.004), (3.0, 5.0, 0.02, -0.01, 0.05, 0.2))
    assert verdict(table) == SUPPORTED


def test_a_significant_step_against_the_claim_means_not_supported():
    table = comparisons((1.0, 3.0, 0.10, 0.04, 0.16, 0.004), (3.0, 5.0, -0.08, -0.12, -0.03, 0.01))
    assert verdict(table) == NOT_SUPPORTED


def test_a_large_difference_with_a_holm_p_above_alpha_is_inconclusive():
    # The point estimate says "increase"; the adjusted p does not let it count.
    table = comparisons((1.0, 3.0, 0.30, 0.01, 0.59, 0.06), (3.0, 5.0, 0.25, 0.02, 0.48, 0.07))
    assert verdict(table) == INCONCLUSIVE


def test_decrease_mirrors_increase():
    table = comparisons((1.0, 3.0, -0.10, -0.16, -0.04, 0.004))
    falling = FindingConfig(metric="detect.coverage.lake", compare="guidance_scale", expect="decrease")
    assert verdict(table, falling) == SUPPORTED
    assert verdict(table) == NOT_SUPPORTED


def test_the_measured_value_shows_each_step_with_its_interval_and_holm_p():
    table = comparisons((1.0, 3.0, 0.10, 0.04, 0.16, 0.004))
    (row,) = findings(LAKE, CLAIM, comparisons=table, samples=pd.DataFrame(), runs=(), random_weights=False)
    assert row.measured == "1.0→3.0: 0.1 [0.04, 0.16], p_holm 0.004, 12 prompts"
    assert row.claim == CLAIM and row.metric == "detect.coverage.lake"


def test_random_weights_show_the_numbers_but_no_verdict():
    table = comparisons((1.0, 3.0, 0.10, 0.04, 0.16, 0.004))
    assert verdict(table, random_weights=True) == NO_VERDICT_RANDOM


def test_a_metric_missing_from_the_comparisons_gets_no_verdict():
    assert verdict(comparisons((1.0, 3.0, 0.1, 0.04, 0.16, 0.004)).assign(metric="clip.score")) == NO_VERDICT_MISSING


def test_group_intervals_average_seeds_then_prompts_and_leave_controls_out():
    samples = pd.DataFrame(
        {
            "prompt_id": ["a", "a", "b", "b", "c", "c", "k"],
            "tag.style": ["pixel art"] * 4 + ["photograph"] * 2 + ["pixel art"],
            "expected_class": [None] * 6 + ["pixel_art"],
            "style.p_intended": [0.1, 0.3, 0.5, 0.7, 0.9, 0.8, 1.0],
        }
    )
    groups = group_intervals(samples, "style.p_intended", "tag.style").set_index("value")
    means = np.array([0.2, 0.6])  # prompts a and b, seeds averaged; the control k is left out
    half = sps.t.ppf(0.975, 1) * means.std(ddof=1) / np.sqrt(2)
    assert groups.loc["pixel art", "mean"] == pytest.approx(0.4)
    assert groups.loc["pixel art", "ci_low"] == pytest.approx(0.4 - half)
    assert groups.loc["pixel art", "n_prompts"] == 2
    assert groups.loc["photograph", "n_prompts"] == 1 and np.isnan(groups.loc["photograph", "ci_low"])


def groups(*rows: tuple[str, float, float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"value": v, "mean": m, "ci_low": lo, "ci_high": hi, "n_prompts": 8} for v, m, lo, hi in rows])


def test_lowest_is_supported_only_when_the_target_interval_lies_below_every_other():
    apart = groups(("pixel art", 0.2, 0.1, 0.3), ("photograph", 0.6, 0.5, 0.7), ("oil painting", 0.5, 0.35, 0.65))
    assert rank_verdict(apart, "pixel art", "lowest")[1] == SUPPORTED
    overlapping = groups(("pixel art", 0.2, 0.1, 0.3), ("photograph", 0.6, 0.5, 0.7), ("oil painting", 0.4, 0.25, 0.5))
    assert rank_verdict(overlapping, "pixel art", "lowest")[1] == INCONCLUSIVE
    wrong_side = groups(("pixel art", 0.6, 0.5, 0.7), ("photograph", 0.2, 0.1, 0.3))
    assert rank_verdict(wrong_side, "pixel art", "lowest")[1] == NOT_SUPPORTED
    assert rank_verdict(wrong_side, "pixel art", "highest")[1] == SUPPORTED


def test_a_group_without_an_interval_cannot_support_a_rank_claim():
    one_prompt = groups(("pixel art", 0.2, np.nan, np.nan), ("photograph", 0.6, 0.5, 0.7))
    assert rank_verdict(one_prompt, "pixel art", "lowest")[1] == INCONCLUSIVE


def test_a_probe_metric_gets_no_verdict_unless_every_run_validated_the_probe():
    rows = [("pixel art", 0.2, 0.1, 0.3), ("photograph", 0.6, 0.5, 0.7)]
    samples = pd.DataFrame(
        {
            "prompt_id": [f"p{i}" for i in range(4)],
            "tag.style": ["pixel art", "pixel art", "photograph", "photograph"],
            "style.p_intended": [0.1, 0.12, 0.8, 0.82],
        }
    )
    style = FindingConfig(metric="style.p_intended", compare="tag.style", expect="lowest", target="pixel art")
    assert rank_verdict(groups(*rows), "pixel art", "lowest")[1] == SUPPORTED
    for validated, expected in ((0.0, NO_VERDICT_UNVALIDATED), (1.0, SUPPORTED)):
        runs = [{"metrics": {"style/validated": validated}, "overrides": {}}]
        (row,) = findings(style, "", comparisons=pd.DataFrame(), samples=samples, runs=runs, random_weights=False)
        assert row.verdict == expected


def test_a_run_metric_trend_compares_the_lowest_and_highest_settings_intervals():
    church = FindingConfig(metric="bias/interest_share", compare="sampler.guidance_scale", expect="increase")

    def run(scale: str, share: float, low: float, high: float) -> dict:
        metrics = {"bias/interest_share": share, "bias/interest_share_ci_low": low, "bias/interest_share_ci_high": high}
        return {"metrics": {**metrics, "bias/validated": 1.0}, "overrides": {"sampler.guidance_scale": scale}}

    rising = [run("10.0", 0.8, 0.6, 0.9), run("1.0", 0.3, 0.15, 0.5), run("3.0", 0.5, 0.3, 0.7)]
    (row,) = findings(church, "", comparisons=pd.DataFrame(), samples=pd.DataFrame(), runs=rising, random_weights=False)
    assert row.verdict == SUPPORTED
    assert row.measured.startswith("1.0: 0.3 [0.15, 0.5]; 3.0:")
    flat = [run("1.0", 0.5, 0.3, 0.7), run("10.0", 0.55, 0.35, 0.75)]
    (row,) = findings(church, "", comparisons=pd.DataFrame(), samples=pd.DataFrame(), runs=flat, random_weights=False)
    assert row.verdict == INCONCLUSIVE


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
    samples = paired_samples(0.5)
    (row,) = findings(CFG_ABOVE, CLAIM, comparisons=pd.DataFrame(), samples=samples, runs=(), random_weights=False)
    # Independently: each prompt's mean under each guidance (seeds and pooled cells averaged), then the mean
    # of the per-prompt differences with a Student t interval over the 7 prompts (below min_n: t, not bootstrap-t).
    means = samples.groupby(["guidance", "prompt_id"])["s"].mean().unstack(0)
    d = (means["classifier_free"] - means["clip"]).to_numpy()
    low, high = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=d.std(ddof=1) / np.sqrt(len(d)))
    assert row.measured.startswith(f"classifier_free − clip: {d.mean():.4g} [{low:.4g}, {high:.4g}]")
    assert row.verdict == SUPPORTED and row.basis.startswith("paired comparisons")
    # The prompt effects dwarf the shift: separate intervals per guidance overlap and could not decide.
    separate = group_intervals(samples.assign(expected_class=None), "s", "guidance")
    assert rank_verdict(separate, "classifier_free", "highest")[1] == INCONCLUSIVE


def test_a_paired_rank_claim_against_the_data_is_not_supported():
    samples = paired_samples(-0.5)
    (row,) = findings(CFG_ABOVE, CLAIM, comparisons=pd.DataFrame(), samples=samples, runs=(), random_weights=False)
    assert row.verdict == NOT_SUPPORTED


def test_three_prompts_cannot_support_a_paired_rank_claim_however_large_the_shift():
    # A sign-flip test over 3 prompts has 2**3 equally likely sign patterns: its smallest p is 2/8 = 0.25.
    samples = paired_samples(10.0, prompts=3)
    (row,) = findings(CFG_ABOVE, CLAIM, comparisons=pd.DataFrame(), samples=samples, runs=(), random_weights=False)
    assert row.verdict == INCONCLUSIVE


def test_groups_of_different_prompts_fall_back_to_separate_intervals():
    samples = paired_samples(0.5)
    samples = samples[~((samples["guidance"] == "clip") & (samples["prompt_id"] == "p0"))]
    (row,) = findings(CFG_ABOVE, CLAIM, comparisons=pd.DataFrame(), samples=samples, runs=(), random_weights=False)
    assert row.basis.startswith("intervals over prompts")
