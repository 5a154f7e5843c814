"""The detect scorer on tiny random OWLv2, OWL-ViT and CLIPSeg models saved to disk, against the same models
called directly: transformers' zero-shot detection pipeline for presence and a plain CLIPSeg forward for coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tiny_hf  # noqa: F401  (offline before transformers is imported)
import torch
from omegaconf import OmegaConf
from PIL import Image
from transformers import (
    CLIPSegForImageSegmentation,
    CLIPSegProcessor,
    OwlViTConfig,
    OwlViTForObjectDetection,
    OwlViTImageProcessor,
    OwlViTProcessor,
    pipeline,
)

from harness.scorers.configs import DetectConfig
from harness.scorers.detect import DetectScorer, slug
from harness.scorers.options import BootstrapOptions, ScorerConfigError
from harness.scorers.tiny_models import CLIPSEG, OWLV2, build, letter_tokenizer, text_config, vision_config

TEMPLATE = "a {}"
OBJECTS = [["polar bear", "ship"], ["hedgehog", "calculator"], None, ["polar bear", "ship"], ["hedgehog", "calculator"]]
PHRASES = [None, None, ["house", "lake"], ["ship"], None]
PROMPTS = [
    "a polar bear sailing a ship",
    "a hedgehog using a calculator",
    "a house by the lake",
    "a polar bear sailing a ship",
    "a hedgehog using a calculator",
]


def _save(model: torch.nn.Module, processor, folder: Path) -> str:
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def owlv2_dir(tmp_path_factory) -> str:
    """The harness's tiny OWLv2, saved: transformers' own loader and pipeline read it back."""
    return _save(*build(OWLV2), tmp_path_factory.mktemp("owlv2"))


@pytest.fixture(scope="session")
def owlvit_dir(tmp_path_factory) -> str:
    torch.manual_seed(1)
    config = OwlViTConfig(text_config=text_config(16), vision_config=vision_config(), projection_dim=16)
    image_processor = OwlViTImageProcessor(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32})
    processor = OwlViTProcessor(image_processor, letter_tokenizer(16))
    return _save(OwlViTForObjectDetection(config).eval(), processor, tmp_path_factory.mktemp("owlvit"))


@pytest.fixture(scope="session")
def clipseg_dir(tmp_path_factory) -> str:
    return _save(*build(CLIPSEG), tmp_path_factory.mktemp("clipseg"))


@pytest.fixture
def samples(make_images, make_samples) -> pd.DataFrame:
    paths = make_images("gen", len(PROMPTS), seed=21)
    table = make_samples(paths, PROMPTS, objects=OBJECTS, phrases=PHRASES)
    return table.set_index(pd.RangeIndex(100, 100 + len(PROMPTS)))


def _pipeline_scores(folder: str, samples: pd.DataFrame) -> list[dict[str, float]]:
    """Best box score per object from transformers' own zero-shot detection pipeline (one query at a time)."""
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForZeroShotObjectDetection.from_pretrained(folder).eval()
    detect = pipeline(
        "zero-shot-object-detection",
        model=model,
        tokenizer=processor.tokenizer,
        image_processor=processor.image_processor,
        device="cpu",
    )
    out = []
    for path, objects in zip(samples["path_256"], samples["objects"], strict=True):
        best = {}
        for item in objects or []:
            boxes = detect(Image.open(path).convert("RGB"), candidate_labels=[TEMPLATE.format(item)], threshold=0.0)
            best[item] = max(box["score"] for box in boxes)
        out.append(best)
    return out


def _coverage_by_hand(folder: str, path: str, phrase: str, threshold: float) -> float:
    processor = CLIPSegProcessor.from_pretrained(folder)
    model = CLIPSegForImageSegmentation.from_pretrained(folder).eval()
    inputs = processor(text=[phrase], images=[Image.open(path).convert("RGB")], return_tensors="pt")
    with torch.no_grad():
        probs = torch.sigmoid(model(**inputs).logits).numpy()
    return float((probs > threshold).mean())


def _threshold_between(values: list[float]) -> float:
    """A threshold with scores on both sides, so presence is decided both ways."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return (ordered[middle - 1] + ordered[middle]) / 2


def _config(detector: str, segmenter: str, **options) -> DetectConfig:
    return DetectConfig(
        detector=detector,
        segmenter=segmenter,
        query_template=TEMPLATE,
        bootstrap=BootstrapOptions(resamples=200),
        **options,
    )


@pytest.fixture
def expected(owlv2_dir, samples):
    return _pipeline_scores(owlv2_dir, samples)


@pytest.mark.parametrize("family", ["owlv2", "owlvit"])
def test_object_scores_equal_the_zero_shot_detection_pipeline(family, request, clipseg_dir, samples):
    folder = request.getfixturevalue(f"{family}_dir")
    truth = _pipeline_scores(folder, samples)
    columns = DetectScorer(_config(folder, clipseg_dir)).score(samples).columns
    for position, row in enumerate(truth):
        for item, score in row.items():
            assert columns[f"detect.score.{slug(item)}"].iloc[position] == pytest.approx(score, abs=1e-5)
    unlisted = columns["detect.score.hedgehog"].iloc[[0, 2, 3]]
    assert unlisted.isna().all()


def test_presence_is_the_best_box_score_at_or_above_the_threshold(owlv2_dir, clipseg_dir, samples, expected):
    threshold = _threshold_between([s for row in expected for s in row.values()])
    columns = DetectScorer(_config(owlv2_dir, clipseg_dir, presence_threshold=threshold)).score(samples).columns
    present = [{item: s >= threshold for item, s in row.items()} for row in expected]
    for position, row in enumerate(present):
        for item, flag in row.items():
            assert columns[f"detect.present.{slug(item)}"].iloc[position] == flag
    assert {flag for row in present for flag in row.values()} == {True, False}
    all_present = [all(row.values()) if row else pd.NA for row in present]
    assert columns["detect.all_present"].tolist() == all_present
    assert columns["detect.n_objects"].tolist() == [2, 2, pd.NA, 2, 2]
    assert columns["detect.n_present"].tolist() == [sum(r.values()) if r else pd.NA for r in present]


def test_run_metrics_are_presence_rates_over_the_samples_that_list_objects(owlv2_dir, clipseg_dir, samples, expected):
    threshold = _threshold_between([s for row in expected for s in row.values()])
    result = DetectScorer(_config(owlv2_dir, clipseg_dir, presence_threshold=threshold)).score(samples)
    rows = [row for row in expected if row]
    assert result.metrics["detect/all_present_rate"] == pytest.approx(
        np.mean([all(s >= threshold for s in row.values()) for row in rows])
    )
    bears = [row["polar bear"] for row in rows if "polar bear" in row]
    assert result.metrics["detect/present_rate[object=polar_bear]"] == pytest.approx(
        np.mean([s >= threshold for s in bears])
    )
    assert result.metrics["detect/score_mean[object=polar_bear]"] == pytest.approx(np.mean(bears), abs=1e-6)
    assert result.metrics["detect/n_with_objects"] == 4.0
    table = result.tables["detect/objects"].set_index(["prompt_id", "object"])
    assert table.loc[("p2", "polar_bear"), "n"] == 2
    assert table.loc[("p2", "polar_bear"), "score_mean"] == pytest.approx(np.mean(bears), abs=1e-6)


def test_coverage_is_the_share_of_pixels_above_the_mask_threshold(owlv2_dir, clipseg_dir, samples):
    threshold = 0.5
    result = DetectScorer(_config(owlv2_dir, clipseg_dir, coverage_threshold=threshold)).score(samples)
    columns = result.columns
    for position, phrases in enumerate(PHRASES):
        for phrase in phrases or []:
            truth = _coverage_by_hand(clipseg_dir, samples["path_256"].iloc[position], phrase, threshold)
            # Batched and single forwards may differ in the last bits; allow one pixel of 32 x 32 to flip.
            assert columns[f"detect.coverage.{phrase}"].iloc[position] == pytest.approx(truth, abs=1.01 / 1024)
    shares = columns[["detect.coverage.house", "detect.coverage.lake", "detect.coverage.ship"]].stack().to_numpy()
    assert ((shares > 0) & (shares < 1)).any(), "the tiny segmenter must give partial masks"
    assert columns["detect.coverage.lake"].isna().tolist() == [True, True, False, True, True]
    lake = columns["detect.coverage.lake"].dropna().to_numpy(dtype=float)
    assert result.metrics["detect/coverage_mean[phrase=lake]"] == pytest.approx(lake.mean())
    assert result.metrics["detect/n_with_phrases"] == 2.0


def test_lists_read_back_from_parquet_score_the_same(owlv2_dir, clipseg_dir, samples, tmp_path):
    path = tmp_path / "manifest.parquet"
    samples.to_parquet(path)
    again = pd.read_parquet(path)
    assert isinstance(again["objects"].iloc[0], np.ndarray)
    scorer = DetectScorer(_config(owlv2_dir, clipseg_dir))
    pd.testing.assert_frame_equal(scorer.score(again).columns, scorer.score(samples).columns)


def test_a_table_without_object_and_phrase_columns_loads_no_model(samples):
    scorer = DetectScorer(_config("/nowhere/owl", "/nowhere/clipseg"))
    result = scorer.score(samples.drop(columns=["objects", "phrases"]))
    assert result.columns["detect.all_present"].isna().all()
    assert result.metrics["detect/all_present_rate"] is None
    assert any("no 'objects' column" in note for note in result.notes)
    assert any("no sample lists phrases" in note for note in result.notes)


def test_a_bare_string_is_one_object_and_a_number_is_an_error(owlv2_dir, clipseg_dir, samples):
    scorer = DetectScorer(_config(owlv2_dir, clipseg_dir))
    samples["objects"] = pd.Series(["ship", None, None, None, None], index=samples.index, dtype=object)
    assert list(scorer.score(samples).columns.filter(like="detect.score.")) == ["detect.score.ship"]
    samples["objects"] = pd.Series([5, None, None, None, None], index=samples.index, dtype=object)
    with pytest.raises(ValueError, match=r"samples column 'objects', row 100: expected a list of strings, got 5"):
        scorer.score(samples)


def test_the_tiny_names_score_as_transformers_does_with_the_built_models(owlv2_dir, clipseg_dir, samples, expected):
    columns = DetectScorer(_config(OWLV2, CLIPSEG)).score(samples).columns
    for position, row in enumerate(expected):
        for item, score in row.items():
            assert columns[f"detect.score.{slug(item)}"].iloc[position] == pytest.approx(score, abs=1e-5)
    for position, phrases in enumerate(PHRASES):
        for phrase in phrases or []:
            truth = _coverage_by_hand(clipseg_dir, samples["path_256"].iloc[position], phrase, 0.5)
            assert columns[f"detect.coverage.{phrase}"].iloc[position] == pytest.approx(truth, abs=1.01 / 1024)


def test_the_tiny_names_need_no_weights():
    assert DetectScorer(_config(OWLV2, CLIPSEG)).weights() == ()
    (weight,) = DetectScorer(_config(OWLV2, "glide-eval-tests/no-such-segmenter")).weights()
    assert weight.source == "hf://glide-eval-tests/no-such-segmenter"


def test_a_detector_of_another_kind_is_refused_by_name(clipseg_dir, samples):
    with pytest.raises(ScorerConfigError, match="is a clipseg model; expected owlv2 or owlvit"):
        DetectScorer(_config(clipseg_dir, clipseg_dir)).score(samples)


def test_weights_name_local_folders_and_missing_hub_models(owlv2_dir, clipseg_dir, tmp_path):
    local = DetectScorer(_config(owlv2_dir, clipseg_dir)).weights()
    assert [(w.source, w.available, w.fetch) for w in local] == [(owlv2_dir, True, None), (clipseg_dir, True, None)]
    (tmp_path / "empty").mkdir()
    hub = DetectScorer(_config("glide-eval-tests/no-such-detector", str(tmp_path / "empty"))).weights()
    assert hub[0].source == "hf://glide-eval-tests/no-such-detector"
    assert not hub[0].available
    assert hub[0].fetch == "hf download glide-eval-tests/no-such-detector"
    assert not hub[1].available


def test_config_composes_as_a_structured_config():
    merged = OmegaConf.merge(OmegaConf.structured(DetectConfig), {"presence_threshold": 0.3, "stage": "64"})
    assert OmegaConf.to_object(merged) == DetectConfig(presence_threshold=0.3, stage="64")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"presence_threshold": 0}, "scorer.detect.presence_threshold: expected a number in (0, 1), got 0"),
        ({"coverage_threshold": 1.5}, "scorer.detect.coverage_threshold: expected a number in (0, 1), got 1.5"),
        ({"query_template": "a photo"}, "scorer.detect.query_template: expected text with one '{}'"),
        ({"stage": "128"}, "scorer.detect.stage: expected one of 64, 256, got '128'"),
        ({"batch_size": 0}, "scorer.detect.batch_size: expected an integer >= 1, got 0"),
        ({"detector": " "}, "scorer.detect.detector: expected a hub model id or a local folder, got ' '"),
    ],
)
def test_bad_options_raise_one_clear_error(options, message):
    with pytest.raises(ScorerConfigError) as err:
        DetectConfig(**options)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
