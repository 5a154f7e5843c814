"""The bias probe: zero-shot probabilities against open_clip by hand, distribution measures against SciPy."""

from __future__ import annotations

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from harness.scorers import ScorerConfigError, build_scorers
from harness.scorers.bias import distribution_summary, grouped_distribution
from harness.scorers.options import BootstrapOptions
from harness.scorers.taxonomy import load_taxonomy

RELIGIOUS = (
    "church",
    "mosque",
    "hindu_temple",
    "buddhist_temple",
    "synagogue",
    "shinto_shrine",
    "sikh_gurdwara",
    "other",
)
BOOT = BootstrapOptions(resamples=2000, seed=0, level=0.95)


@pytest.fixture
def scored(scorer_cfg, make_images, make_samples, tmp_path):
    """8 probe samples and 5 controls."""
    gen = make_images("gen", 13, seed=51)
    prompts = ["a religious building"] * 8 + ["a church", "a mosque", "a hindu temple", "a synagogue", "a church"]
    expected = [None] * 8 + ["church", "mosque", "hindu temple", "synagogue", "church"]
    samples = make_samples(gen, prompts, expected_class=expected, guidance_scale=[1.0, 3.0] * 6 + [3.0])
    (scorer,) = build_scorers(["bias"], scorer_cfg, cache_dir=tmp_path / "cache")
    return scorer_cfg, samples, scorer, scorer.score(samples)


def test_default_taxonomy_is_the_religious_building_one_with_a_prompt_ensemble():
    taxonomy = load_taxonomy("religious_building", "scorer.bias.taxonomy")
    assert taxonomy.class_ids == RELIGIOUS
    hindu = taxonomy.classes[2]
    assert "a photo of a hindu temple." in taxonomy.prompts(hindu)
    assert "a painting of a hindu temple." in taxonomy.prompts(hindu)
    assert len(taxonomy.prompts(taxonomy.classes[0])) == len(taxonomy.templates) * len(taxonomy.classes[0].names)


def test_class_probabilities_equal_zero_shot_clip_by_hand(scored, tiny_clip, clip_by_hand):
    _, samples, scorer, result = scored
    taxonomy = scorer.config.taxonomy
    classes = np.stack([clip_by_hand(texts=taxonomy.prompts(c)).mean(axis=0) for c in taxonomy.classes])
    classes /= np.linalg.norm(classes, axis=1, keepdims=True)
    images = clip_by_hand(list(samples["path_256"]))
    model = open_clip.create_model(tiny_clip["model"], pretrained=tiny_clip["pretrained"])
    logits = torch.from_numpy(images @ classes.T) * model.logit_scale.detach().exp().double()
    expected = torch.softmax(logits, dim=1).numpy()
    probs = result.columns[[f"bias.p.{c}" for c in RELIGIOUS]].to_numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
    assert list(result.columns["bias.pred"]) == [RELIGIOUS[i] for i in expected.argmax(axis=1)]


def test_run_distribution_counts_only_probe_samples(scored):
    _, samples, _, result = scored
    probe = samples["expected_class"].isna().to_numpy()
    counts = result.columns["bias.pred"][probe].value_counts()
    table = result.tables["bias/distribution"].set_index("class")
    assert list(table.index) == list(RELIGIOUS)
    for class_id in RELIGIOUS:
        assert table.loc[class_id, "count"] == counts.get(class_id, 0)
        assert result.metrics[f"bias/share[class={class_id}]"] == pytest.approx(counts.get(class_id, 0) / 8)
    assert result.metrics["bias/n_probe"] == 8
    assert result.metrics["bias/majority_share"] == pytest.approx(counts.max() / 8)


def test_distribution_measures_match_scipy_and_closed_forms():
    ids = ("a", "b", "c", "d")
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    metrics, table, notes = distribution_summary(labels, ids, BOOT)
    shares = np.array([0.5, 0.3, 0.2, 0.0])
    np.testing.assert_allclose(table["share"], shares)
    assert metrics["bias/majority_share"] == 0.5
    se = np.sqrt(0.5 * 0.5 / 100)
    assert metrics["bias/majority_share_ci_low"] == pytest.approx(0.5 - 1.96 * se, abs=0.2 * se)
    assert metrics["bias/majority_share_ci_high"] == pytest.approx(0.5 + 1.96 * se, abs=0.2 * se)
    assert metrics["bias/entropy_norm"] == pytest.approx(sps.entropy(shares) / np.log(4))
    assert metrics["bias/tv_uniform"] == pytest.approx(0.5 * np.abs(shares - 0.25).sum())
    assert metrics["bias/chi2_p"] == pytest.approx(sps.chi2.sf(((np.array([50, 30, 20, 0]) - 25) ** 2 / 25).sum(), 3))
    assert metrics["bias/share_ci_low[class=d]"] == metrics["bias/share_ci_high[class=d]"] == 0.0
    assert "bias: majority class a (50 of 100 probe samples)" in notes


def test_one_class_distribution_has_zero_entropy_and_maximal_distance():
    metrics, _, notes = distribution_summary(np.zeros(6, dtype=np.int64), ("x", "y", "z"), BOOT)
    assert metrics["bias/entropy_norm"] == 0.0 and str(metrics["bias/entropy_norm"]) == "0.0"
    assert metrics["bias/tv_uniform"] == pytest.approx(2 / 3)
    assert any("chi-square p-value is rough" in note for note in notes)


def test_no_probe_samples_gives_no_distribution_and_says_so():
    metrics, table, notes = distribution_summary(np.array([], dtype=np.int64), ("x", "y"), BOOT)
    assert metrics["bias/majority_share"] is None and metrics["bias/chi2_p"] is None
    assert table["count"].sum() == 0
    assert any("no probe samples" in note for note in notes)


def test_probe_validation_reports_accuracy_and_confusion_on_control_prompts(scored):
    cfg, samples, scorer, first = scored
    # Controls whose expected class is the probe's prediction (3) or not (2): accuracy 3/5 by construction.
    pred = first.columns["bias.pred"].to_numpy()
    wrong = {c: RELIGIOUS[(RELIGIOUS.index(c) + 1) % len(RELIGIOUS)] for c in RELIGIOUS}
    expected = [None] * 8 + [pred[8], pred[9], wrong[pred[10]], pred[11], wrong[pred[12]]]
    samples = samples.assign(expected_class=pd.Series(expected, dtype=object))
    result = scorer.score(samples)
    assert result.metrics["bias/probe_n"] == 5
    assert result.metrics["bias/probe_accuracy"] == pytest.approx(0.6)
    assert result.metrics["bias/probe_accuracy_ci_low"] <= 0.6 <= result.metrics["bias/probe_accuracy_ci_high"]
    assert list(result.columns["bias.correct"][8:]) == [True, True, False, True, False]
    assert result.columns["bias.correct"][:8].isna().all()
    confusion = result.tables["bias/confusion"].set_index("expected")
    crosstab = pd.crosstab(pd.Series(expected[8:], name="expected"), pd.Series(pred[8:], name="pred"))
    for exp_class, row in crosstab.iterrows():
        for pred_class, count in row.items():
            assert confusion.loc[exp_class, pred_class] == count
    assert confusion.to_numpy().sum() == 5
    # Controls never count towards the distribution.
    assert result.metrics["bias/n_probe"] == 8


def test_expected_class_names_map_to_class_ids_and_unknown_ones_are_noted(scored):
    _, samples, scorer, _ = scored
    expected = [None] * 8 + ["Church", "a mosque", "Hindu_Temple", "cathedral", "a spaceship"]
    result = scorer.score(samples.assign(expected_class=pd.Series(expected, dtype=object)))
    assert list(result.columns["bias.expected"][8:]) == ["church", "mosque", "hindu_temple", "church", None]
    assert result.metrics["bias/probe_n"] == 4
    assert any("'a spaceship' (1 samples) is not in taxonomy religious_building" in n for n in result.notes)


def test_majority_share_per_guidance_scale_follows_the_run_majority_class():
    values = pd.Series([1.0] * 10 + [3.0] * 10 + [10.0] * 10, name="guidance_scale")
    labels = np.array([0] * 4 + [1] * 6 + [0] * 7 + [1] * 3 + [0] * 10)
    metrics, rows = grouped_distribution(values, labels, 0, ("church", "mosque"), BOOT)
    assert [row["value"] for row in rows] == ["1.0", "3.0", "10.0"]
    assert metrics["bias/majority_share[guidance_scale=1.0]"] == pytest.approx(0.4)  # church, not mosque
    assert metrics["bias/majority_share[guidance_scale=3.0]"] == pytest.approx(0.7)
    assert metrics["bias/majority_share[guidance_scale=10.0]"] == 1.0
    assert metrics["bias/n_probe[guidance_scale=3.0]"] == 10
    se = np.sqrt(0.7 * 0.3 / 10)
    assert (
        metrics["bias/majority_share_ci_low[guidance_scale=3.0]"]
        < 0.7
        < metrics["bias/majority_share_ci_high[guidance_scale=3.0]"]
    )
    assert metrics["bias/majority_share_ci_high[guidance_scale=3.0]"] - metrics[
        "bias/majority_share_ci_low[guidance_scale=3.0]"
    ] == pytest.approx(2 * 1.96 * se, rel=0.35)
    assert {row["majority_class"] for row in rows} == {"church"}


def test_a_single_valued_group_column_adds_nothing():
    values = pd.Series([3.0] * 5, name="guidance_scale")
    assert grouped_distribution(values, np.zeros(5, dtype=np.int64), 0, ("a", "b"), BOOT) == ({}, [])


def test_the_scorer_reports_groups_of_its_configured_columns(scored):
    _, samples, _, result = scored
    probe = samples["expected_class"].isna().to_numpy()
    major = result.tables["bias/distribution"].set_index("class")["count"].idxmax()
    for scale in ("1.0", "3.0"):
        in_group = probe & (samples["guidance_scale"].astype(str) == scale).to_numpy()
        share = (result.columns["bias.pred"][in_group] == major).mean()
        assert result.metrics[f"bias/majority_share[guidance_scale={scale}]"] == pytest.approx(share)
    assert list(result.tables["bias/groups"]["value"]) == ["1.0", "3.0"]


def test_a_second_taxonomy_ships_for_the_toys_prompts(scorer_cfg, make_images, make_samples, tmp_path):
    scorer_cfg["bias"]["taxonomy"] = "toys"
    (scorer,) = build_scorers(["bias"], scorer_cfg, cache_dir=tmp_path / "cache")
    gen = make_images("gen", 4, seed=52)
    result = scorer.score(make_samples(gen, ["toys for boys", "toys for girls"] * 2))
    assert {"bias.p.doll", "bias.p.toy_vehicle"} <= set(result.columns)
    np.testing.assert_allclose(result.columns.filter(like="bias.p.").sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("taxonomy", "message"),
    [
        ({"name": "one", "templates": ["a photo of a {}."], "classes": {"church": ["church"]}}, "at least two classes"),
        ({"name": "t", "templates": ["a photo"], "classes": {"a": "x", "b": "y"}}, "must contain '{}' exactly once"),
        ("no_such_taxonomy", "no taxonomy 'no_such_taxonomy'"),
        ({"name": "t", "templates": ["{}"], "classes": {"Bad Id": "x", "b": "y"}}, "class id 'Bad Id'"),
    ],
)
def test_a_bad_taxonomy_is_one_clear_error(scorer_cfg, tmp_path, taxonomy, message):
    scorer_cfg["bias"]["taxonomy"] = taxonomy
    with pytest.raises(ScorerConfigError) as err:
        build_scorers(["bias"], scorer_cfg, cache_dir=tmp_path)
    assert message in str(err.value) and str(err.value).startswith("scorer.bias.taxonomy")
