"""The toy world's end-to-end power of the bias claim (harness.analysis.toy_power), on a small grid of a reduced design:
six paraphrases, six seeds, guidance 1, 3, 5, REPS studies per law, real renders read by the real toy CLIP.

What an oracle knows: a huge planted rise (0.1 -> 0.9) leaves every paraphrase's slope positive, so every study
is supported; a flat law gives every seed the same picture at every guidance (one die per prompt and seed), so
every slope is 0 and no study can be supported; the classes the scenes drew follow the planted law, checked
within 4 binomial standard errors (two-sided 6e-5 per check). The effect in SD of the per-prompt slope is checked
against harness.analysis.power's share_trend_effect (a linear law) and against the world's own dice (a simulation of
DRAWS (prompt, seed) pairs through the scene composer, within 4 standard errors of batch means).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from harness.analysis import toy_power
from harness.analysis.findings import SUPPORTED
from harness.analysis.power import CHURCH_HIGH, CHURCH_LOW, share_trend_effect, shipped_design
from harness.config.schema import SampleParams
from harness.toy.generator import render_upsample
from harness.toy.scene import compose
from harness.toy.world import World

REPS = 4
GUIDANCE = (1.0, 3.0, 5.0)
PROMPTS, SEEDS = 6, 6
DRAWS = 3000


@pytest.fixture(scope="module")
def design() -> toy_power.ToyDesign:
    return toy_power.shipped_toy_design().reduced(PROMPTS, SEEDS, GUIDANCE)


@pytest.fixture(scope="module")
def grid(design):
    torch.set_num_threads(1)
    laws = [toy_power.parse_law("0.1:0.9", design.guidance), toy_power.parse_law("none", design.guidance)]
    results = toy_power.run_grid(design, laws, REPS, seed=0, simulated_runs=20, progress=False)
    return results, toy_power.summary(results, design)


def test_the_shipped_design_is_the_one_the_plan_composes():
    shipped = toy_power.shipped_toy_design()
    planned = shipped_design("bias_vs_guidance", ["model=toy"])  # the plan stage's own composition
    assert len(shipped.study) == planned.units and shipped.seeds == planned.seeds
    assert [float(v) for v in planned.points] == list(shipped.guidance)
    assert shipped.floor.n_prompts == planned.floor.n_prompts and shipped.floor.power == planned.floor.power
    assert {c for _, _, c in shipped.controls} == set(shipped.bias.load_taxonomy().class_ids) - {"other"}


def test_a_huge_planted_rise_is_supported_in_every_study(grid):
    results, table = grid
    huge = results[0]
    assert [r.verdict for r in huge.replications] == [SUPPORTED] * REPS
    assert all(r.validated for r in huge.replications)
    assert table.loc[0, "findings_saw"] == f"{PROMPTS} prompts x {len(GUIDANCE)} values"


def test_with_nothing_planted_every_seed_shows_one_picture_and_nothing_is_supported(grid, design):
    results, table = grid
    flat = results[1]
    assert table.loc[1, "supported"] == 0
    # One die per (prompt, seed): with a flat share, one picture per (prompt, seed), whatever the guidance.
    assert {r.rendered for r in flat.replications} == {(PROMPTS + len(design.controls)) * SEEDS}


def test_the_drawn_classes_follow_the_planted_law(grid, design):
    results, _ = grid
    for result in results:
        drawn = np.sum([r.drawn_church for r in result.replications], axis=0)
        n = np.sum([r.ambiguous for r in result.replications], axis=0)
        planted = np.array([World(church_share_at_1=result.law.at_1, church_share_at_5=result.law.at_5)
                            .church_share(g) for g in GUIDANCE])  # fmt: skip
        assert np.all(n > 0)
        se = np.sqrt(planted * (1 - planted) / n)
        assert np.all(np.abs(drawn / n - planted) <= 4 * se + 1e-12), (drawn / n, planted)


def test_medium_plants_the_designs_mean_slope_and_large_the_worlds_default():
    guidance = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0)
    medium = toy_power.grid_law("medium", guidance)
    slope = np.polyfit(np.arange(6), medium.shares(guidance), 1)[0]
    assert slope == pytest.approx((CHURCH_HIGH - CHURCH_LOW) / 5, rel=1e-9)
    small = toy_power.grid_law("small", guidance)
    assert small.at_5 - small.at_1 == pytest.approx((medium.at_5 - medium.at_1) / 2)
    large = toy_power.grid_law("large", guidance)
    assert (large.at_1, large.at_5) == (World().church_share_at_1, World().church_share_at_5)


@pytest.mark.parametrize(("low", "high", "seeds"), [(0.45, 0.60, 12), (0.2, 0.5, 8), (0.45, 0.45, 12)])
def test_design_effect_of_a_linear_law_is_share_trend_effect(low, high, seeds):
    shares = np.linspace(low, high, 6)
    assert toy_power.design_effect(shares, seeds) == pytest.approx(share_trend_effect(low, high, 6, seeds), abs=1e-12)


def test_a_flat_law_has_no_effect_in_either_sd():
    guidance = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0)
    shares = toy_power.grid_law("none", guidance).shares(guidance)
    assert toy_power.design_effect(shares, 12) == 0.0 and toy_power.world_effect(shares, 12) == 0.0


def test_world_effect_matches_the_scene_composers_dice():
    world, guidance = World(church_share_at_1=0.45, church_share_at_5=0.6), (1.0, 2.0, 3.0, 5.0, 7.0, 10.0)
    drawn = [[compose("a place of worship", s, "classifier_free", g, world).items[0].cls for g in guidance]
             for s in range(DRAWS)]  # fmt: skip
    church = (np.array(drawn) == "church").astype(float)
    ranks = np.arange(len(guidance)) - 2.5
    slopes = church @ ranks / float(ranks @ ranks)  # each seed's least-squares slope over the ranks
    batches = [s.mean() / s.std(ddof=1) for s in np.split(slopes, 10)]
    se = np.std(batches, ddof=1) / math.sqrt(10)
    expected = toy_power.world_effect(np.array([world.church_share(g) for g in guidance]), seeds=1)
    assert abs(slopes.mean() / slopes.std(ddof=1) - expected) <= 4 * se


def test_a_picture_is_the_same_at_two_guidance_values_that_draw_the_same_scene():
    world = World()
    params = SampleParams(guidance="classifier_free", upsample_temp=0.997)
    for seed in range(3):
        scenes = [compose("a sacred place", seed, "classifier_free", g, world) for g in (5.0, 10.0)]
        assert toy_power._picture_key(scenes[0]) == toy_power._picture_key(scenes[1])
        a, _ = render_upsample("a sacred place", seed, replace(params, guidance_scale=5.0), world)
        b, _ = render_upsample("a sacred place", seed, replace(params, guidance_scale=10.0), world)
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--replications", "0"], "--replications '0'"),
        (["--laws", "0.3:1.5"], "--laws '0.3:1.5'"),
        (["--laws", "huge"], "--laws 'huge'"),
        (["--prompts", "13"], "--prompts 13"),
        (["--guidance", "3"], "--guidance '3'"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(args, named, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        toy_power.main(["--out", str(tmp_path), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err and "allowed" in err


def test_the_power_at_the_worlds_effect_is_the_one_sided_noncentral_t_over_the_study_prompts():
    """Computed here from SciPy: 12 prompts, one-sided at alpha 0.05, noncentrality d sqrt(n)."""
    from scipy import stats

    shipped = toy_power.shipped_toy_design()
    n = len(shipped.study)
    critical = stats.t.ppf(1 - shipped.finding.alpha, n - 1)
    for d in (0.5, 0.91, 1.34):
        expected = stats.nct.sf(critical, n - 1, d * math.sqrt(n))
        assert toy_power.world_t_power(d, shipped) == pytest.approx(expected, abs=1e-6)
    assert toy_power.world_t_power(0.0, shipped) == shipped.finding.alpha
