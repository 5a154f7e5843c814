"""The style probe: P(intended style) against zero-shot CLIP by hand, per-style means against SciPy, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
import yaml

from harness.scorers import build_scorers
from harness.scorers.taxonomy import load_taxonomy

CONF = Path(__file__).resolve().parents[2] / "conf"

STYLES = (
    "oil_painting",
    "photograph",
    "pixel_art",
    "chinese_ink_painting",
    "watercolour",
    "pencil_sketch",
    "3d_render",
    "cartoon",
    "anime",
)
# Two prompts per style for two styles (two seeds each), then three controls.
PROMPTS = [
    "an oil painting of a corgi",
    "an oil painting of a cat",
    "pixel art of a corgi",
    "pixel art of a cat",
] * 2 + ["an oil painting", "pixel art", "a photograph"]
STYLE_TAGS = ["oil painting", "oil painting", "pixel art", "pixel art"] * 2
STYLE_TAGS += ["oil painting", "pixel art", "photograph"]


@pytest.fixture
def scored(scorer_cfg, make_images, make_samples, tmp_path):
    gen = make_images("gen", len(PROMPTS), seed=61)
    expected = [None] * 8 + ["oil painting", "pixel_art", "a photograph"]
    samples = make_samples(gen, PROMPTS, expected_class=expected, **{"tag.style": STYLE_TAGS})
    (scorer,) = build_scorers(["style"], scorer_cfg, cache_dir=tmp_path / "cache")
    return samples, scorer, scorer.score(samples)


def probabilities_by_hand(samples: pd.DataFrame, tiny_clip, clip_by_hand) -> np.ndarray:
    taxonomy = load_taxonomy("art_style", "test")
    classes = np.stack([clip_by_hand(texts=taxonomy.prompts(c)).mean(axis=0) for c in taxonomy.classes])
    classes /= np.linalg.norm(classes, axis=1, keepdims=True)
    images = clip_by_hand(list(samples["path_256"]))
    model = open_clip.create_model(tiny_clip["model"], pretrained=tiny_clip["pretrained"])
    logits = torch.from_numpy(images @ classes.T) * model.logit_scale.detach().exp().double()
    return torch.softmax(logits, dim=1).numpy()


def test_art_style_taxonomy_has_the_seed_styles_and_ensembles_over_templates():
    taxonomy = load_taxonomy("art_style", "scorer.style.taxonomy")
    assert taxonomy.class_ids == STYLES
    assert taxonomy.class_id_for("chinese ink painting") == "chinese_ink_painting"
    assert taxonomy.class_id_for("a photo") == "photograph"
    assert len(taxonomy.prompts(taxonomy.classes[0])) == len(taxonomy.templates) * 2


def test_p_intended_is_the_zero_shot_probability_of_the_tagged_style(scored, tiny_clip, clip_by_hand):
    samples, _, result = scored
    expected = probabilities_by_hand(samples, tiny_clip, clip_by_hand)
    probs = result.columns[[f"style.p.{c}" for c in STYLES]].to_numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
    intended = [STYLES.index(s.replace(" ", "_")) for s in STYLE_TAGS]
    np.testing.assert_allclose(
        result.columns["style.p_intended"], expected[np.arange(len(PROMPTS)), intended], rtol=1e-4, atol=1e-6
    )
    assert list(result.columns["style.pred"]) == [STYLES[i] for i in expected.argmax(axis=1)]


def test_per_style_adherence_averages_seeds_then_prompts_with_no_interval_at_two(scored, tiny_clip, clip_by_hand):
    samples, _, result = scored
    p = probabilities_by_hand(samples, tiny_clip, clip_by_hand)
    table = result.tables["style/per_style"].set_index("style")
    assert list(table.index) == ["oil_painting", "pixel_art"]
    for style, rows, column in (("oil_painting", [0, 1], 0), ("pixel_art", [2, 3], 2)):
        # Rows r and r + 4 are the two seeds of one prompt; controls (8-10) are left out.
        means = np.array([(p[r, column] + p[r + 4, column]) / 2 for r in rows])
        assert table.loc[style, "n_prompts"] == 2 and table.loc[style, "n_samples"] == 4
        assert table.loc[style, "mean"] == pytest.approx(means.mean(), rel=1e-4)
        # Two prompts: below the 5 (and min_n) an interval needs to cover, none is shown.
        assert pd.isna(table.loc[style, "ci_low"])
        high = result.metrics[f"style/adherence_ci_high[style={style}]"]
        assert high is None
    pooled = np.array([(p[r, c] + p[r + 4, c]) / 2 for r, c in ((0, 0), (1, 0), (2, 2), (3, 2))])
    assert result.metrics["style/adherence"] == pytest.approx(pooled.mean(), rel=1e-4)
    assert result.metrics["style/adherence_n_prompts"] == 4


def _with_controls(samples: pd.DataFrame, pred: list[str], right: list[bool]) -> pd.DataFrame:
    wrong = {c: STYLES[(STYLES.index(c) + 1) % len(STYLES)] for c in STYLES}
    expected = [None] * 8 + [pred[8 + i] if ok else wrong[pred[8 + i]] for i, ok in enumerate(right)]
    return samples.assign(expected_class=pd.Series(expected, dtype=object))


def _planted(scorer_cfg, make_images, make_samples, tmp_path, monkeypatch, controls: list[str]):
    """The 8 probe rows and `controls`, scored by a probe that reads every image as its tagged style (probability
    0.9): the gate's wiring without the tiny CLIP's luck."""
    tags = STYLE_TAGS[:8] + controls
    gen = make_images("gen", len(tags), seed=63)
    samples = make_samples(gen, PROMPTS[:8] + controls, expected_class=[None] * 8 + controls, **{"tag.style": tags})
    (scorer,) = build_scorers(["style"], scorer_cfg, cache_dir=tmp_path / "cache")
    probs = np.full((len(tags), len(STYLES)), 0.1 / (len(STYLES) - 1))
    probs[np.arange(len(tags)), [STYLES.index(s.replace(" ", "_")) for s in tags]] = 0.9
    monkeypatch.setattr(scorer.probe, "probabilities", lambda samples: probs)
    return scorer.score(samples)


def test_a_probe_right_on_every_control_is_validated(scorer_cfg, make_images, make_samples, tmp_path, monkeypatch):
    controls = ["oil_painting", "pixel_art", "photograph"] * 2
    result = _planted(scorer_cfg, make_images, make_samples, tmp_path, monkeypatch, controls)
    # 6 of 6: the Clopper-Pearson lower bound 0.025 ** (1 / 6) = 0.541 is above chance 1/3 (three styles named).
    assert result.metrics["style/probe_accuracy_ci_low"] == pytest.approx(0.025 ** (1 / 6))
    assert result.metrics["style/chance"] == pytest.approx(1 / 3)
    assert result.metrics["style/validated"] == 1.0
    assert result.tables["style/per_style"]["validated"].all()
    assert not any(note.startswith("UNVALIDATED") for note in result.notes)


def test_chance_counts_the_styles_the_controls_name_not_the_taxonomy(
    scorer_cfg, make_images, make_samples, tmp_path, monkeypatch
):
    # 3 of 3 right: the lower bound 0.025 ** (1 / 3) = 0.292 clears 1/9 (the taxonomy) but not 1/3 (the controls).
    controls = ["oil_painting", "pixel_art", "photograph"]
    result = _planted(scorer_cfg, make_images, make_samples, tmp_path, monkeypatch, controls)
    assert result.metrics["style/probe_accuracy"] == 1.0
    assert result.metrics["style/validated"] == 0.0
    assert "lower bound 0.292, is not above chance 1/3 = 0.333" in result.notes[0]


def test_a_probe_wrong_on_controls_is_marked_unvalidated(scored):
    samples, scorer, first = scored
    result = scorer.score(_with_controls(samples, list(first.columns["style.pred"]), [True, False, False]))
    assert result.metrics["style/probe_accuracy"] == pytest.approx(1 / 3)
    assert result.metrics["style/validated"] == 0.0
    assert not result.tables["style/per_style"]["validated"].any()
    assert result.notes[0].startswith("UNVALIDATED: probe accuracy 1/3 on the control prompts")
    assert result.metrics["style/adherence"] is not None  # still computed, but marked


def test_a_style_outside_the_taxonomy_gets_no_adherence_and_a_note(scorer_cfg, make_images, make_samples, tmp_path):
    (scorer,) = build_scorers(["style"], scorer_cfg, cache_dir=tmp_path / "cache")
    gen = make_images("gen", 2, seed=62)
    result = scorer.score(make_samples(gen, ["a mosaic of a corgi", "pixel art"], **{"tag.style": ["mosaic", None]}))
    assert result.columns["style.p_intended"].isna().all()
    assert any("'mosaic' (1 samples) is not a style of taxonomy art_style" in n for n in result.notes)
    assert result.notes[0].startswith("UNVALIDATED: the run holds no control prompts")


def test_the_styles_suite_has_one_control_per_style_and_tags_that_name_taxonomy_classes():
    suite = yaml.safe_load((CONF / "suite" / "styles.yaml").read_text())
    taxonomy = load_taxonomy("art_style", "test")
    controls = [p for p in suite["prompts"] if p.get("expected_class")]
    assert sorted(p["expected_class"] for p in controls) == sorted(STYLES)
    for prompt in suite["prompts"]:
        assert taxonomy.class_id_for(prompt["tags"]["style"]) is not None, prompt
    for prompt in controls:
        assert taxonomy.class_id_for(prompt["tags"]["style"]) == prompt["expected_class"]
