"""The bias probe: zero-shot probabilities against open_clip by hand, measures against SciPy, validation."""

from __future__ import annotations

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats as sps

from harness.scorers import ScorerConfigError, build_scorers
from harness.scorers.bias import distribution_summary, grouped_distribution
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
LEVEL = 0.95


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="exact")
    return ci.low, ci.high


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
    taxonomy = scorer.taxonomy
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


PROMPTS_10 = np.repeat([f"p{i}" for i in range(10)], 10)


def test_distribution_measures_match_scipy_and_closed_forms():
    ids = ("a", "b", "c", "d")
    # 10 prompts of 10 images; class b's share differs between prompts (0.1 to 0.5).
    labels = np.concatenate([[1] * b + [0] * (5 - b // 2) + [2] * (5 - b + b // 2) for b in [1, 2, 3, 4, 5] * 2])
    metrics, table, notes = distribution_summary(labels, PROMPTS_10, ids, LEVEL, 1)
    counts = np.bincount(labels, minlength=4)
    shares = counts / 100
    np.testing.assert_allclose(table["share"], shares)
    assert metrics["bias/interest_share"] == pytest.approx(0.3)
    # Prompts are the units: the interval holds Student t's over the 10 per-prompt shares of b.
    per_prompt = np.array([1, 2, 3, 4, 5] * 2) / 10
    low, high = sps.t.interval(LEVEL, 9, loc=per_prompt.mean(), scale=sps.sem(per_prompt))
    assert metrics["bias/interest_share_ci_low"] <= low + 1e-12 and metrics["bias/interest_share_ci_high"] >= high
    assert metrics["bias/entropy_norm"] == pytest.approx(sps.entropy(shares) / np.log(4))
    assert metrics["bias/tv_uniform"] == pytest.approx(0.5 * np.abs(shares - 0.25).sum())
    assert set(table["ci_method"]) == {"t_bootstrap_t_hull+clopper_pearson over 10 prompts"}
    assert any(note.startswith("bias: class of interest b: 30 of 100 probe samples, share 0.300") for note in notes)


def test_three_prompts_give_shares_without_an_interval():
    labels = np.array([0] * 5 + [1] * 5 + [0] * 6 + [1] * 4 + [0] * 10)
    metrics, table, _ = distribution_summary(labels, PROMPTS_10[:30], ("x", "y"), LEVEL, 0)
    assert metrics["bias/interest_share"] == pytest.approx(0.7)
    assert metrics["bias/interest_share_ci_low"] is None and metrics["bias/interest_share_ci_high"] is None
    assert set(table["ci_method"]) == {"no_interval over 3 prompts"}


def test_one_class_distribution_has_zero_entropy_and_maximal_distance():
    metrics, _, notes = distribution_summary(np.zeros(6, dtype=np.int64), PROMPTS_10[:6], ("x", "y", "z"), LEVEL, 0)
    assert metrics["bias/entropy_norm"] == 0.0 and str(metrics["bias/entropy_norm"]) == "0.0"
    assert metrics["bias/tv_uniform"] == pytest.approx(2 / 3)


def test_no_probe_samples_gives_no_distribution_and_says_so():
    empty = np.array([], dtype=np.int64)
    metrics, table, notes = distribution_summary(empty, empty.astype(str), ("x", "y"), LEVEL, 0)
    assert metrics["bias/interest_share"] is None
    assert table["count"].sum() == 0
    assert any("no probe samples" in note for note in notes)


def _controls(pred: np.ndarray, right: list[bool]) -> list[str | None]:
    """Expected classes for the five control rows (8-12): the probe's prediction where `right`, else another."""
    wrong = {c: RELIGIOUS[(RELIGIOUS.index(c) + 1) % len(RELIGIOUS)] for c in RELIGIOUS}
    return [None] * 8 + [pred[8 + i] if ok else wrong[pred[8 + i]] for i, ok in enumerate(right)]


def test_probe_validation_reports_accuracy_and_confusion_on_control_prompts(scored):
    cfg, samples, scorer, first = scored
    # Controls whose expected class is the probe's prediction (3) or not (2): accuracy 3/5 by construction.
    pred = first.columns["bias.pred"].to_numpy()
    expected = _controls(pred, [True, True, False, True, False])
    samples = samples.assign(expected_class=pd.Series(expected, dtype=object))
    result = scorer.score(samples)
    assert result.metrics["bias/probe_n"] == 5
    assert result.metrics["bias/probe_accuracy"] == pytest.approx(0.6)
    low, high = clopper_pearson(3, 5)
    assert result.metrics["bias/probe_accuracy_ci_low"] == pytest.approx(low, abs=1e-12)
    assert result.metrics["bias/probe_accuracy_ci_high"] == pytest.approx(high, abs=1e-12)
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


def _plant(scorer, monkeypatch, predicted: list[str]) -> None:
    """The probe reads image i as class predicted[i] (probability 0.9): the gate's wiring without CLIP's luck."""
    probs = np.full((len(predicted), len(RELIGIOUS)), 0.1 / (len(RELIGIOUS) - 1))
    probs[np.arange(len(predicted)), [RELIGIOUS.index(c) for c in predicted]] = 0.9
    monkeypatch.setattr(scorer.probe, "probabilities", lambda samples: probs)


@pytest.fixture
def gate(scorer_cfg, make_images, make_samples, tmp_path):
    """8 probe samples and 12 controls: 4 each of church, mosque and synagogue."""
    gen = make_images("gen", 20, seed=54)
    controls = ["church"] * 4 + ["mosque"] * 4 + ["synagogue"] * 4
    prompts = ["a religious building"] * 8 + [f"a {c}" for c in controls]
    samples = make_samples(gen, prompts, expected_class=[None] * 8 + controls)
    (scorer,) = build_scorers(["bias"], scorer_cfg, cache_dir=tmp_path / "cache")
    return samples, scorer, controls


def test_a_probe_right_on_every_control_is_validated_against_chance_among_the_named_classes(gate, monkeypatch):
    samples, scorer, controls = gate
    _plant(scorer, monkeypatch, ["church"] * 8 + controls)
    result = scorer.score(samples)
    # Three classes named: chance 1/3. 4 of 4 churches: the Clopper-Pearson lower bound 0.025 ** (1 / 4) = 0.398.
    assert result.metrics["bias/chance"] == pytest.approx(1 / 3) and result.metrics["bias/probe_classes"] == 3
    assert result.metrics["bias/probe_accuracy_ci_low"] == pytest.approx(0.025 ** (1 / 12))
    assert result.metrics["bias/probe_interest_n"] == 4 and result.metrics["bias/probe_interest_recall"] == 1.0
    assert result.metrics["bias/probe_interest_recall_ci_low"] == pytest.approx(0.025 ** (1 / 4))
    assert result.metrics["bias/validated"] == 1.0
    assert not any(note.startswith("UNVALIDATED") for note in result.notes)
    # Even validated, no test against equal shares of every class (`other` included): no such reference exists.
    assert not any("chi2" in name for name in result.metrics)


def test_a_probe_blind_to_the_class_of_interest_is_unvalidated_however_accurate(gate, monkeypatch):
    samples, scorer, controls = gate
    _plant(scorer, monkeypatch, ["church"] * 8 + ["mosque"] * 4 + controls[4:])
    result = scorer.score(samples)
    low = clopper_pearson(8, 12)[0]
    assert result.metrics["bias/probe_accuracy"] == pytest.approx(8 / 12) and low > 1 / 3
    assert result.metrics["bias/probe_interest_recall"] == 0.0
    assert result.metrics["bias/validated"] == 0.0
    assert result.notes[0].startswith(
        "UNVALIDATED: the class of interest church is recognised on 0/4 of its controls, 95% clopper_pearson "
        "lower bound 0.000, not above chance 0.333;"
    )
    assert "\n" not in result.notes[0]
    assert result.metrics["bias/interest_share"] == 1.0  # still computed, but marked


def test_a_probe_at_chance_level_is_marked_unvalidated(scored):
    _, samples, scorer, first = scored
    pred = first.columns["bias.pred"].to_numpy()
    expected = _controls(pred, [True, False, False, False, False])
    result = scorer.score(samples.assign(expected_class=pd.Series(expected, dtype=object)))
    named = len(set(expected[8:]))
    assert result.metrics["bias/probe_accuracy"] == pytest.approx(0.2)
    assert result.metrics["bias/chance"] == pytest.approx(1 / named)
    assert result.metrics["bias/validated"] == 0.0
    assert result.metrics["bias/interest_share"] is not None  # still computed, but marked
    assert result.notes[0].startswith("UNVALIDATED: probe accuracy 1/5 on the control prompts")
    # Chance counts the classes the controls name, not the taxonomy's K = 8.
    assert f"is not above chance 1/{named} = {1 / named:.3f} ({named} classes named by the controls)" in result.notes[0]


def test_a_run_without_control_prompts_is_marked_unvalidated(scorer_cfg, make_images, make_samples, tmp_path):
    (scorer,) = build_scorers(["bias"], scorer_cfg, cache_dir=tmp_path / "cache")
    gen = make_images("gen", 6, seed=53)
    result = scorer.score(make_samples(gen, ["an oil painting of a corgi"] * 6))
    assert result.metrics["bias/probe_n"] == 0 and result.metrics["bias/probe_accuracy"] is None
    assert result.metrics["bias/validated"] == 0.0
    assert result.notes[0].startswith("UNVALIDATED: the run holds no control prompts")


def test_the_class_of_interest_share_per_guidance_scale_is_that_of_the_configured_class():
    values = pd.Series([1.0] * 10 + [3.0] * 10 + [10.0] * 10, name="guidance_scale")
    labels = np.array([0] * 4 + [1] * 6 + [0] * 7 + [1] * 3 + [0] * 10)
    prompts = np.tile(np.repeat(["p0", "p1", "p2", "p3", "p4"], 2), 3)
    metrics, rows = grouped_distribution(values, labels, prompts, ("church", "mosque"), LEVEL, 0)
    assert [row["value"] for row in rows] == ["1.0", "3.0", "10.0"]
    assert metrics["bias/interest_share[guidance_scale=1.0]"] == pytest.approx(0.4)  # church, not the majority
    assert metrics["bias/majority_share[guidance_scale=1.0]"] == pytest.approx(0.6)
    assert metrics["bias/interest_share[guidance_scale=3.0]"] == pytest.approx(0.7)
    assert metrics["bias/interest_share[guidance_scale=10.0]"] == 1.0
    assert metrics["bias/n_probe[guidance_scale=3.0]"] == 10
    # 5 prompts: fewer than the default bootstrap.min_n (8) a share's interval is shown for.
    assert metrics["bias/interest_share_ci_low[guidance_scale=3.0]"] is None
    assert {row["class_of_interest"] for row in rows} == {"church"}


def test_a_single_valued_group_column_adds_nothing():
    values = pd.Series([3.0] * 5, name="guidance_scale")
    labels = np.zeros(5, dtype=np.int64)
    assert grouped_distribution(values, labels, PROMPTS_10[:5], ("a", "b"), LEVEL, 0) == ({}, [])


def test_the_scorer_reports_groups_of_its_configured_columns(scored):
    _, samples, _, result = scored
    probe = samples["expected_class"].isna().to_numpy()
    for scale in ("1.0", "3.0"):
        in_group = probe & (samples["guidance_scale"].astype(str) == scale).to_numpy()
        share = (result.columns["bias.pred"][in_group] == "church").mean()
        assert result.metrics[f"bias/interest_share[guidance_scale={scale}]"] == pytest.approx(share)
    assert list(result.tables["bias/groups"]["value"]) == ["1.0", "3.0"]


def test_a_second_taxonomy_ships_for_the_toys_prompts(scorer_cfg, make_images, make_samples, tmp_path):
    scorer_cfg["bias"].update(taxonomy="toys", class_of_interest="doll")
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
    if isinstance(taxonomy, dict):
        path = tmp_path / "taxonomy.yaml"
        path.write_text(yaml.safe_dump(taxonomy))
        taxonomy = str(path)
    scorer_cfg["bias"].update(taxonomy=taxonomy, class_of_interest=None)
    with pytest.raises(ScorerConfigError) as err:
        build_scorers(["bias"], scorer_cfg, cache_dir=tmp_path)
    assert message in str(err.value) and str(err.value).startswith("scorer.bias.taxonomy")


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"class_of_interest": "cathedral"}, "scorer.bias.class_of_interest: 'cathedral' is not a class of taxonomy"),
        ({"level": 1.5}, "scorer.bias.level: expected a number in (0, 1), e.g. 0.95, got 1.5"),
        ({"bootstrap": {"resamples": 10}}, "scorer.bias: unknown option 'bootstrap'; allowed: taxonomy"),
    ],
)
def test_bad_bias_options_are_one_clear_error(scorer_cfg, tmp_path, update, message):
    scorer_cfg["bias"].update(update)
    with pytest.raises(ScorerConfigError) as err:
        build_scorers(["bias"], scorer_cfg, cache_dir=tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)
