"""What a design can decide before any sample exists: the smallest p each verdict test can reach with the
suite's prompts, checked against SciPy's own permutation tests and closed forms, and shown by
`runner.stage=plan` without sampling anything."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as sps
import yaml
from cli_helpers import CONF, check, cli_env, files_under, run_cli

from harness.analysis.findings import design_floor, t_mde, t_power
from harness.config.schema import FindingConfig, PromptConfig
from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import sign_flip_pvalue, smallest_sign_flip_p, smallest_two_sample_p, trend_test


def scipy_one_sided_flip(d: np.ndarray, resamples: int) -> float:
    return sps.permutation_test(
        (d,),
        np.mean,
        permutation_type="samples",
        alternative="greater",
        n_resamples=resamples,
        rng=np.random.default_rng(0),
    ).pvalue


@pytest.mark.parametrize("units", [2, 3, 6, 9])
def test_the_one_sided_floor_is_scipys_p_when_every_prompt_rises(units):
    rises = np.linspace(1.0, 2.0, units)  # every prompt's slope positive: the most extreme data there is
    assert smallest_sign_flip_p(units, 1000, two_sided=False) == pytest.approx(scipy_one_sided_flip(rises, 1000))
    assert smallest_sign_flip_p(units, 1000, two_sided=False) == 2.0**-units


def test_the_one_sided_floor_of_random_flips_is_one_over_resamples_plus_one():
    rises = np.linspace(1.0, 2.0, 14)  # 2^14 sign vectors: more than 100 resamples, so random flips
    assert smallest_sign_flip_p(14, 100, two_sided=False) == pytest.approx(scipy_one_sided_flip(rises, 100))
    assert smallest_sign_flip_p(14, 100, two_sided=False) == pytest.approx(1 / 101)


@pytest.mark.parametrize("units", [2, 5, 8])
def test_the_paired_two_sided_floor_is_two_of_the_two_to_the_j_sign_vectors(units):
    p, method = sign_flip_pvalue(np.linspace(0.5, 1.5, units), 1000, 0)
    assert "exact" in method and p == pytest.approx(2.0 ** (1 - units))
    assert smallest_sign_flip_p(units, 1000, two_sided=True) == pytest.approx(p)


@pytest.mark.parametrize("n1,n2", [(2, 2), (3, 4), (5, 5)])
def test_the_two_sample_floor_is_scipys_p_for_fully_separated_groups(n1, n2):
    low, high = np.arange(n1, dtype=float), 100.0 + np.arange(n2)
    p = sps.permutation_test(
        (low, high),
        lambda a, b, axis: np.mean(a, axis=axis) - np.mean(b, axis=axis),
        permutation_type="independent",
        n_resamples=1000,
        rng=np.random.default_rng(0),
    ).pvalue
    assert smallest_two_sample_p(n1, n2, 1000) == pytest.approx(p)
    assert smallest_two_sample_p(n1, n2, 1000) == pytest.approx(2 / math.comb(n1 + n2, n1))


def test_one_prompt_in_a_group_is_never_tested():
    assert smallest_two_sample_p(1, 9, 1000) == 1.0


def prompts(n_study: int, n_controls: int = 0, tag: str | None = None, values: list[str] | None = None):
    out = [
        PromptConfig(id=f"s{i}", text=f"s{i}", tags={tag: values[i]} if tag and values else {}) for i in range(n_study)
    ]
    out += [PromptConfig(id=f"c{i}", text=f"c{i}", expected_class="church") for i in range(n_controls)]
    return out


def test_a_trend_over_three_prompts_can_never_be_supported_and_five_can():
    rise = FindingConfig(metric="bias/interest_share", compare="sampler.guidance_scale", expect="increase")
    three = design_floor(rise, prompts(3, n_controls=7), settings=5)
    assert three.p == pytest.approx(1 / 8) and not three.can_decide  # the controls do not count
    five = design_floor(rise, prompts(5), settings=5)
    assert five.p == pytest.approx(1 / 32) and five.can_decide
    assert "can never be supported" in three.line() and "MDE 1.4 SD of the per-prompt slope" in five.line()


def test_holm_multiplies_the_trend_floor_by_the_claims_metrics():
    both = FindingConfig(metric="a.x", also=["a.y"], compare="sampler.upsample_temp", expect="increase")
    assert design_floor(both, prompts(5), settings=3).p == pytest.approx(2 / 32)
    assert design_floor(both, prompts(5), settings=1).p == 1.0  # one value: no trend to test


def test_a_rank_claim_over_tags_needs_every_contrast_to_reach_alpha():
    lowest = FindingConfig(metric="style.p_intended", compare="tag.style", expect="lowest", target="pixel art")
    for per_style, decides in ((4, False), (5, True)):
        values = ["pixel art"] * per_style + ["oil painting"] * per_style + ["photograph"] * per_style
        floor = design_floor(lowest, prompts(3 * per_style, tag="style", values=values), settings=1)
        # Two contrasts, each at best 2 / C(2n, n); Holm's largest adjusted p is the smallest one's, x2.
        assert floor.p == pytest.approx(2 * 2 / math.comb(2 * per_style, per_style))
        assert floor.can_decide is decides
    single = design_floor(lowest, prompts(3, tag="style", values=["pixel art", "oil painting", "photograph"]), 1)
    assert single.p == 1.0 and not single.can_decide


def study_prompts(suite: str) -> int:
    listed = yaml.safe_load((CONF / "suite" / f"{suite}.yaml").read_text())["prompts"]
    return sum(1 for p in listed if not p.get("expected_class") and p["tags"].get("role") != "exploratory")


@pytest.mark.slow
def test_the_plan_stage_shows_each_experiments_design_and_samples_nothing(tmp_path):
    env = cli_env(tmp_path / "home")
    result = check(
        run_cli(["-m", "+experiment=bias_vs_guidance", "model=tiny", "runner.stage=plan"], cwd=tmp_path, env=env)
    )
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("design: ")]
    n = study_prompts("religious_paraphrases")
    # 2**n sign vectors exceed the 1000 resamples: random flips, whose smallest p is 1 / 1001.
    assert f"{n} study prompts" in line and f"smallest p_holm {1 / 1001:.4g}" in line
    power = t_power(0.8, n, n - 1, 0.05, two_sided=False)
    assert f"power {power:.2f} at the stated 0.8 SD" in line and "can never be supported" not in line
    assert "nothing was sampled" in result.stdout.splitlines()[-1]
    assert [p for p in files_under(tmp_path) if p.split("/")[0] != "home"] == []  # no run or sweep dir


def test_exploratory_prompts_take_no_part_in_the_design():
    rise = FindingConfig(metric="a.x", compare="sampler.guidance_scale", expect="increase")
    seeds = [PromptConfig(id=f"e{i}", text="e", tags={"role": "exploratory"}) for i in range(3)]
    assert design_floor(rise, prompts(4) + seeds, settings=3).p == pytest.approx(1 / 16)


def grid(subjects: int, styles: int, *, missing: int = 0) -> list[PromptConfig]:
    """Every subject in every style, less the last style of the first `missing` subjects."""
    return [
        PromptConfig(id=f"s{j}_{k}", text="x", tags={"subject": f"s{j}", "style": "pixel art" if k == 0 else f"v{k}"})
        for j in range(subjects)
        for k in range(styles)
        if not (j < missing and k == styles - 1)
    ]


def test_a_paired_grid_counts_the_subjects_that_hold_every_style_and_needs_all_contrasts():
    lowest = FindingConfig(
        metric="m", compare="tag.style", expect="lowest", target="pixel art", pair_by="tag.subject", effect=0.5
    )
    floor = design_floor(lowest, grid(9, 4, missing=2), settings=1)
    assert floor.n_prompts == 7 and floor.counted == "7 subjects x 4 styles"
    # Three contrasts, each at best 2 / 2**7 (exact sign flips), Holm multiplies the smallest by 3.
    assert floor.p == pytest.approx(3 * 2 / 2**7) and floor.can_decide
    # Each contrast two-sided at 0.05 / 3; all three must pass: the union bound on the noncentral t's power.
    crit = sps.t.ppf(1 - 0.05 / 6, 6)
    single = sps.nct.sf(crit, 6, 0.5 * math.sqrt(7)) + sps.nct.cdf(-crit, 6, 0.5 * math.sqrt(7))
    assert floor.power == pytest.approx(max(0.0, 1 - 3 * (1 - single)))
    # At the MDE each contrast has power 1 - 0.2 / 3, so the three together at least 0.8.
    at_mde = sps.nct.sf(crit, 6, floor.mde * math.sqrt(7)) + sps.nct.cdf(-crit, 6, floor.mde * math.sqrt(7))
    assert at_mde == pytest.approx(1 - 0.2 / 3, abs=1e-6)
    assert not design_floor(lowest, grid(4, 4), settings=1).can_decide  # 3 x 2/16 >= 0.05


@pytest.mark.parametrize("n", [8, 12])
def test_a_one_sided_t_test_at_the_mde_has_the_power_it_states(n):
    """The MDE solves the noncentral t's power; a seeded simulation of SciPy's own t-test checks it."""
    d = t_mde(n, n - 1, 0.05, two_sided=False)
    slopes = np.random.default_rng(n).normal(d, 1.0, size=(4000, n))
    power = np.mean(sps.ttest_1samp(slopes, 0.0, axis=1, alternative="greater").pvalue < 0.05)
    assert power == pytest.approx(0.8, abs=3 * np.sqrt(0.8 * 0.2 / 4000))  # 3 binomial SEs


def test_the_trend_rule_at_the_mde_detects_it_about_as_often_as_stated():
    """The verdict's own test (per-prompt slope, sign flips over prompts) at the design's MDE: its rate of
    p < alpha lies within 0.03 (the t approximation) + 3 SEs of 0.8."""
    rise = FindingConfig(metric="a.x", compare="sampler.guidance_scale", expect="increase")
    design = design_floor(rise, prompts(12), settings=4)
    rng = np.random.default_rng(7)
    options = BootstrapOptions(resamples=300, seed=0)
    hits = 0
    for _ in range(300):
        slopes = rng.normal(design.mde, 1.0, size=12)
        means = slopes[:, None] * np.arange(4)[None, :]  # each prompt's rank slope is its planted slope
        hits += trend_test(means, options).p_increase < 0.05
    assert abs(hits / 300 - 0.8) <= 0.03 + 3 * np.sqrt(0.8 * 0.2 / 300)


def test_the_stated_effect_gets_its_power_and_an_undecidable_design_no_mde():
    pair = FindingConfig(metric="clip.score", compare="guidance", expect="highest", target="clip", effect=0.5)
    design = design_floor(pair, prompts(8), settings=2)
    assert design.power == pytest.approx(t_power(0.5, 8, 7, 0.05, two_sided=True))
    assert design.mde == pytest.approx(t_mde(8, 7, 0.05, two_sided=True)) and design.mde > 0.5
    assert "power 0.2" in design.summary()
    three = design_floor(pair, prompts(3), settings=2)
    assert three.mde is None and three.summary() == "3 study prompts: cannot decide (smallest p_holm 0.25 >= 0.05)"
