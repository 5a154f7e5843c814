"""Every shipped study can decide: its plan states power >= 0.8 at its stated effect, checked against the
noncentral t computed here from the suite files, and seeded simulations of the harness's own verdict rules
(harness.analysis.power) reach that power with a planted effect and keep false "supported" within alpha without one.

Monte-Carlo tolerances: each rate is estimated from RUNS simulated studies; bounds allow 3 binomial standard
errors (0.11 at a power of 0.8, 0.06 at alpha = 0.05, for 120 runs). The sign-flip p-values are the
harness's own (1000 resamples); intervals, which no verdict reads, are not computed (min_n).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as sps
import yaml
from cli_helpers import CONF, EXPERIMENTS

from harness.analysis.findings import POWER, design_floor, design_floors
from harness.analysis.power import (
    CHURCH_HIGH,
    CHURCH_LOW,
    PRESENCE_A,
    PRESENCE_B,
    PRESENCE_DROP_SD,
    StudyDesign,
    presence_drop,
    share_trend_effect,
    verdict_rates,
)
from harness.config.compose import sweep_points
from harness.config.schema import FindingConfig, PromptConfig, register
from harness.scorers.options import BootstrapOptions

RUNS = 120
OPTIONS = BootstrapOptions(resamples=1000, seed=0, min_n=10**6)
SHIPPED = {  # experiment -> its quick pilot suite
    "bias_vs_guidance": "religious_paraphrases_pilot",
    "cfg_vs_clip": "captions_pilot",
    "guidance_scale": "lake_scenes_pilot",
    "upsample_temp": "lake_scenes_pilot",
    "styles": "style_grid_pilot",
    "novel": "novel_pairs_pilot",
}


def mc(rate: float) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / RUNS)


def experiment(name: str) -> dict:
    return yaml.safe_load((EXPERIMENTS / f"{name}.yaml").read_text())


def suite_prompts(suite: str) -> list[PromptConfig]:
    return [PromptConfig(**p) for p in yaml.safe_load((CONF / "suite" / f"{suite}.yaml").read_text())["prompts"]]


def confirmatory(suite: str) -> list[PromptConfig]:
    return [p for p in suite_prompts(suite) if not p.expected_class and p.tags.get("role") != "exploratory"]


def units(name: str, suite: str | None = None) -> int:
    """The study's units counted from the suite file: prompts, or the pairing tag's values holding every value."""
    spec = experiment(name)
    finding = spec["finding"]
    prompts = confirmatory(suite or spec["defaults"][0]["/suite"])
    if not finding.get("pair_by"):
        return len(prompts)
    tag, pair = finding["compare"].removeprefix("tag."), finding["pair_by"].removeprefix("tag.")
    values = {p.tags[tag] for p in prompts}
    held: dict[str, set] = {}
    for p in prompts:
        held.setdefault(p.tags[pair], set()).add(p.tags[tag])
    return sum(1 for kept in held.values() if kept == values)


def expected_power(name: str, n: int) -> float:
    """The noncentral-t power of the claim's tests at its stated effect: a one-sided trend per metric at
    alpha / metrics, or every one of the rank claim's contrasts two-sided at alpha / contrasts (union bound)."""
    finding = experiment(name)["finding"]
    d, alpha, metrics = finding["effect"], finding.get("alpha", 0.05), 1 + len(finding.get("also", []))
    if finding["expect"] == "increase":
        crit = sps.t.ppf(1 - alpha / metrics, n - 1)
        return sps.nct.sf(crit, n - 1, d * math.sqrt(n))
    contrasts = {"styles": 3, "novel": 1, "cfg_vs_clip": 1}[name]  # the other values of compare
    crit = sps.t.ppf(1 - alpha / (2 * contrasts), n - 1)
    single = sps.nct.sf(crit, n - 1, d * math.sqrt(n)) + sps.nct.cdf(-crit, n - 1, d * math.sqrt(n))
    return 1 - contrasts * (1 - single)


def test_every_experiment_with_a_claim_is_checked_here():
    claims = {p.stem for p in (EXPERIMENTS).glob("*.yaml") if experiment(p.stem).get("finding")}
    assert claims == set(SHIPPED)


@pytest.fixture(scope="module")
def plans() -> dict:
    register()
    return {
        name: design_floors(sweep_points([f"+experiment={name}", "runner.stage=plan"], multirun=True))
        for name in SHIPPED
    }


@pytest.mark.parametrize("name", list(SHIPPED))
def test_every_shipped_experiment_plans_power_of_at_least_0_8_at_its_stated_effect(plans, name):
    (floor,) = plans[name]
    n = units(name)
    assert floor.can_decide and floor.n_prompts == n
    assert floor.power == pytest.approx(expected_power(name, n), abs=1e-6)
    assert floor.power >= POWER and floor.mde <= floor.effect
    assert f"power {floor.power:.2f} at the stated {floor.effect:g}" in floor.line()


@pytest.mark.parametrize("name", list(SHIPPED))
def test_a_pilot_suite_states_that_it_cannot_decide(name):
    """The quick variant keeps a few prompts per group: its design says so and cannot pass for the powered one."""
    spec = experiment(name)
    finding = FindingConfig(**spec["finding"])
    params = spec.get("hydra", {}).get("sweeper", {}).get("params", {})
    settings = 2 if name == "cfg_vs_clip" else len(str(next(iter(params.values()), "")).split(",")) if params else 1
    floor = design_floor(finding, suite_prompts(SHIPPED[name]), settings)
    assert floor.n_prompts == units(name, SHIPPED[name]) < units(name)
    assert not floor.can_decide and "cannot decide" in floor.summary()


def test_the_bias_studys_stated_effect_is_its_share_rise_in_sd_of_the_slope():
    """0.45 -> 0.60 over six scales is 0.03 per rank step; its per-prompt slope's SD, from a direct simulation
    of binomial shares around Beta propensities (ICC 0.2), matches share_trend_effect within 3%."""
    rng = np.random.default_rng(11)
    icc, seeds, prompts = 0.2, 12, 20000
    step = (CHURCH_HIGH - CHURCH_LOW) / 5
    c = 1 / icc - 1
    offsets = rng.beta(CHURCH_LOW * c, (1 - CHURCH_LOW) * c, (prompts, 1)) - CHURCH_LOW
    slopes = step * (1 + 0.5 * rng.normal(size=(prompts, 1)))
    # The offset is held fixed within a prompt, so the cell's binomial variance is E p(1-p) over its draws.
    shares = rng.binomial(seeds, np.clip(CHURCH_LOW + offsets + slopes * np.arange(6), 0, 1)) / seeds
    fitted = np.polyfit(np.arange(6), shares.T, 1)[0]
    assert step / fitted.std() == pytest.approx(share_trend_effect(seeds=seeds, icc=icc), rel=0.03)
    stated = experiment("bias_vs_guidance")["finding"]["effect"]
    assert stated <= min(share_trend_effect(seeds=seeds, icc=i) for i in (0.1, 0.2, 0.3))


def design(name: str, points: tuple[str, ...], seeds: int | None = None) -> StudyDesign:
    spec = experiment(name)
    seeds = seeds or spec["sampler"]["samples_per_prompt"]
    return StudyDesign(name, FindingConfig(**spec["finding"]), units(name), points, seeds)


GUIDANCE = ("1.0", "2.0", "3.0", "5.0", "7.0", "10.0")
CASES = {  # experiment -> (the compared value of each sweep point, the planted effect)
    "bias_vs_guidance": (GUIDANCE, CHURCH_HIGH - CHURCH_LOW),  # the stated share rise
    "upsample_temp": (("0.99", "0.995", "1.0"), 0.5),
    "cfg_vs_clip": (("classifier_free",) * 3 + ("clip",) * 3, 0.5),
    "styles": (("chinese ink painting", "oil painting", "photograph", "pixel art"), 0.5),
    "novel": (("familiar", "novel"), 0.5),  # 0/1 presence per image (harness.analysis.power.simulate_presence)
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_verdict_rules_reach_the_planned_power_at_the_stated_effect(name):
    """Every metric of the claim supported (each of styles' three contrasts) in at least 0.8 of the simulated
    studies, less 3 SEs; within 0.05 (the t approximation, the union bound) + 3 SEs of the plan's power."""
    points, effect = CASES[name]
    study = design(name, points)
    rate = verdict_rates(study, effect, RUNS, seed=1, options=OPTIONS).all_supported
    planned = expected_power(name, study.units)
    assert rate >= POWER - mc(POWER)
    assert rate >= planned - 0.05 - mc(planned)


@pytest.mark.parametrize("name", list(CASES))
def test_with_no_effect_the_family_wise_false_supported_rate_stays_within_alpha(name):
    """Any metric (any contrast set) supported with nothing planted, the bias probe at ICC 0.3."""
    points, _ = CASES[name]
    rates = verdict_rates(design(name, points), 0.0, RUNS, seed=2, options=OPTIONS, icc=0.3)
    assert rates.any_supported <= 0.05 + mc(0.05)


def test_the_novel_studys_planted_drop_is_its_stated_effect_in_sd_of_the_pair_difference():
    """The presence drop harness.analysis.power plants for novel's 0.5 SD, checked on binomial counts drawn here: each
    pair's two propensities around a Beta draw, 4 images each, the standardized mean of novel minus familiar
    rates over 100,000 pairs (Monte-Carlo error of the ratio about 0.005)."""
    seeds = experiment("novel")["sampler"]["samples_per_prompt"]
    drop = presence_drop(0.5, seeds)
    rng = np.random.default_rng(23)
    base = rng.beta(PRESENCE_A, PRESENCE_B, 100_000)
    own = np.clip(
        rng.normal(0, PRESENCE_DROP_SD, base.size) / 2, -np.minimum(base, 1 - base), np.minimum(base, 1 - base)
    )
    d = (rng.binomial(seeds, np.clip(base - own - drop, 0, 1)) - rng.binomial(seeds, base + own)) / seeds
    assert -d.mean() / d.std() == pytest.approx(0.5, abs=0.015)
    assert 0.1 < drop < 0.2  # a drop from 0.85 of the familiar images to about 0.7 of the novel ones
