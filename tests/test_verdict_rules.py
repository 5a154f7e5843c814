"""The verdict rules on seeded simulations with planted truth: how often each says "supported" when the
planted curve rises, is flat, bends, or sits beside unrelated metrics, and for clustered church shares.

Each rate is a Monte-Carlo estimate over `RUNS` simulated studies; bounds allow 3 binomial standard errors
(0.03 at 300 runs for alpha = 0.05, 0.07 for a power near 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.analysis.findings import SUPPORTED, findings, trend_findings
from harness.config.schema import FindingConfig
from harness.scorers.options import BootstrapOptions

ALPHA = 0.05
RUNS = 300
OPTIONS = BootstrapOptions(resamples=400, seed=0, min_n=8)


def mc_bound(rate: float) -> float:
    """Three binomial standard errors of a rate estimated from RUNS studies."""
    return 3 * np.sqrt(rate * (1 - rate) / RUNS)


def supported_rate(curve: list[float], prompts: int, seed: int, *, noise: float = 1.0) -> float:
    """Share of simulated sweeps whose increase verdict is "supported": each prompt has its own level, the
    planted `curve` over the swept values, and independent noise per (prompt, value)."""
    rng = np.random.default_rng(seed)
    columns = [str(v) for v in range(len(curve))]
    hits = 0
    for _ in range(RUNS):
        means = np.asarray(curve) + rng.normal(0, 2.0, (prompts, 1)) + rng.normal(0, noise, (prompts, len(curve)))
        table = pd.DataFrame(means, index=[f"p{j}" for j in range(prompts)], columns=columns)
        hits += trend_findings({"m": table}, "increase", ALPHA, OPTIONS)["m"][1] == SUPPORTED
    return hits / RUNS


def test_a_planted_monotone_increase_is_supported_with_the_slope_tests_power():
    slope, prompts = 0.12, 12
    rate = supported_rate([slope * k for k in range(6)], prompts, seed=1)
    # Independently: each prompt's slope is slope + noise with SD 1 / sqrt(sum of squared centred ranks
    # (17.5)); a one-sided t-test over prompts has the noncentral-t power below, which the sign-flip test
    # matches to within about 0.03 at 12 prompts.
    effect = slope * np.sqrt(17.5)
    power = sps.nct.sf(sps.t.ppf(1 - ALPHA, prompts - 1), prompts - 1, effect * np.sqrt(prompts))
    assert abs(rate - power) <= mc_bound(power) + 0.03


def test_a_flat_curve_is_supported_no_more_often_than_alpha():
    assert supported_rate([0.0] * 6, 12, seed=2) <= ALPHA + mc_bound(ALPHA)


def test_an_inverted_u_is_supported_no_more_often_than_alpha():
    assert supported_rate([0.0, 0.6, 1.0, 1.0, 0.6, 0.0], 12, seed=3) <= ALPHA + mc_bound(ALPHA)


def test_a_single_rise_followed_by_a_decline_is_not_an_increase():
    # One large early step, then a steady fall: the old reading (one significant step) would support it.
    assert supported_rate([0.0, 1.5, 1.2, 0.9, 0.6, 0.3], 12, seed=4) <= ALPHA + mc_bound(ALPHA)


def sweep(rng: np.random.Generator, prompts: int, unrelated: int) -> pd.DataFrame:
    """Three temperatures at equal prompts and seeds: metric `m` rises weakly, `u*` rise strongly."""
    rows = []
    for j in range(prompts):
        level = rng.normal()
        for k, temp in enumerate((0.99, 0.995, 1.0)):
            for seed in range(2):
                row = {"prompt_id": f"p{j}", "seed": seed, "upsample_temp": temp, "m": level + 0.3 * k + rng.normal()}
                row.update({f"u{i}": 5.0 * k + rng.normal() for i in range(unrelated)})
                rows.append(row)
    return pd.DataFrame(rows)


def test_an_unrelated_metric_in_the_sweep_does_not_change_the_verdict():
    finding = FindingConfig(metric="m", compare="sampler.upsample_temp", expect="increase")
    rng = np.random.default_rng(5)
    for _ in range(20):
        samples = sweep(rng, 10, unrelated=12)
        alone = findings(finding, "", samples=samples[["prompt_id", "seed", "upsample_temp", "m"]], runs=(),
                         random_weights=False)  # fmt: skip
        beside = findings(finding, "", samples=samples, runs=(), random_weights=False)
        assert alone == beside


def test_a_second_claim_metric_adjusts_the_first_by_holm():
    # The family is the claim's two metrics: the smaller one-sided p is doubled (Holm), capped at 1.
    samples = sweep(np.random.default_rng(6), 10, unrelated=1)
    one = FindingConfig(metric="m", compare="upsample_temp", expect="increase")
    two = FindingConfig(metric="m", compare="upsample_temp", expect="increase", also=["u0"])
    (single,) = findings(one, "", samples=samples, runs=(), random_weights=False)
    first, _ = findings(two, "", samples=samples, runs=(), random_weights=False)
    p_single = float(single.measured.split("one-sided p_holm ")[1].split(",")[0])
    p_pair = float(first.measured.split("one-sided p_holm ")[1].split(",")[0])
    # u0 rises steeply, so its p (1/1024 at most, random flips) is the smaller: m's Holm p is max(2 p_u, p_m).
    assert p_pair == pytest.approx(max(p_single, 2 / 1001), rel=1e-3)


def church_sweep(rng: np.random.Generator, shares: list[float], icc: float, prompts: int, seeds: int) -> pd.DataFrame:
    """Probe images labelled church or not: each prompt's own church propensity drawn from a Beta with the
    given intra-prompt correlation around each guidance's share, shared by its images at every guidance."""
    concentration = 1 / icc - 1
    offsets = rng.beta(shares[0] * concentration, (1 - shares[0]) * concentration, prompts) - shares[0]
    rows = []
    for scale, share in zip(("1.0", "2.0", "3.0", "5.0", "7.0", "10.0"), shares, strict=False):
        for j in range(prompts):
            p = np.clip(share + offsets[j], 0, 1)
            labels = np.where(rng.random(seeds) < p, "church", "mosque")
            rows += [{"prompt_id": f"p{j}", "seed": s, "guidance_scale": scale, "bias.pred": lab}
                     for s, lab in enumerate(labels)]  # fmt: skip
    return pd.DataFrame(rows)


CHURCH = FindingConfig(metric="bias/interest_share", compare="sampler.guidance_scale", expect="increase")
RUNS_CONFIG = [
    {"metrics": {"bias/validated": 1.0}, "overrides": {}, "config": {"scorer.bias.class_of_interest": "church"}}
]


def church_supported_rate(shares: list[float], icc: float, seed: int, runs: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        samples = church_sweep(rng, shares, icc, prompts=8, seeds=16)
        (row,) = findings(CHURCH, "", samples=samples, runs=RUNS_CONFIG, random_weights=False)
        hits += row.verdict == SUPPORTED
    return hits / runs


def test_clustered_church_shares_at_icc_0_2_keep_false_support_within_alpha():
    runs = 150
    rate = church_supported_rate([0.4] * 6, 0.2, seed=7, runs=runs)
    assert rate <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / runs)


def test_a_planted_rise_of_the_church_share_is_supported():
    # +0.08 per setting for every prompt: 8 prompts, all 2**8 sign patterns, one-sided p = 1/256 when all rise.
    assert church_supported_rate([0.3, 0.38, 0.46, 0.54, 0.62, 0.7], 0.2, seed=8, runs=40) >= 0.9
