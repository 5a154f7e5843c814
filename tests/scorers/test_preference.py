"""The preference scorer on a tiny open_clip checkpoint (HPS form) and a tiny transformers CLIPModel (PickScore
form), against open_clip's own checkpoint loader and forward, and transformers' own CLIP logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import pytest
import tiny_hf  # noqa: F401  (offline before transformers is imported)
import torch
from by_hand import prompt_mean_by_hand
from omegaconf import OmegaConf
from PIL import Image
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

from harness.scorers.configs import PreferenceConfig
from harness.scorers.options import BootstrapOptions, ScorerConfigError
from harness.scorers.preference import PreferenceScorer
from harness.scorers.tiny_models import HPS_RANDOM_SEED, PICKSCORE, build, letter_tokenizer, text_config, vision_config

PROMPTS = ["a house by the lake", "a corgi", "a house by the lake", "a polar bear sailing a ship", "a corgi"]
# Not CLIP's initial 1/0.07, so a scorer that assumed 100 instead of the model's exp(t) would fail.
LOGIT_SCALE = 2.0


@pytest.fixture(scope="session")
def hps_checkpoint(tiny_clip, tmp_path_factory) -> str:
    """A tiny open_clip model saved the way the HPSv2 files are: {"state_dict": ...}, keys prefixed by DDP."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        model = open_clip.create_model(tiny_clip["model"])
    state = {f"module.{key}": value for key, value in model.state_dict().items()}
    path = tmp_path_factory.mktemp("hps") / "HPS_tiny.pt"
    torch.save({"state_dict": state, "epoch": 1}, path)
    return str(path)


@pytest.fixture(scope="session")
def pickscore_dirs(tmp_path_factory) -> tuple[str, str]:
    """A tiny CLIPModel folder and, apart from it as on the hub, the folder of its processor."""
    torch.manual_seed(8)
    config = CLIPConfig(
        text_config=text_config(77),
        vision_config=vision_config(),
        projection_dim=16,
        logit_scale_init_value=LOGIT_SCALE,
    )
    model_dir, processor_dir = tmp_path_factory.mktemp("pickscore"), tmp_path_factory.mktemp("clip_h_processor")
    CLIPModel(config).eval().save_pretrained(model_dir)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor, letter_tokenizer(77)).save_pretrained(processor_dir)
    return str(model_dir), str(processor_dir)


@pytest.fixture
def samples(make_images, make_samples) -> pd.DataFrame:
    paths = make_images("gen", len(PROMPTS), seed=31)
    return make_samples(paths, PROMPTS).set_index(pd.RangeIndex(50, 50 + len(PROMPTS)))


def _config(tiny_clip, hps_checkpoint, pickscore_dirs, **options) -> PreferenceConfig:
    return PreferenceConfig(
        hps_architecture=tiny_clip["model"],
        hps_checkpoint=hps_checkpoint,
        pickscore_model=pickscore_dirs[0],
        pickscore_processor=pickscore_dirs[1],
        batch_size=2,
        bootstrap=BootstrapOptions(resamples=200),
        **options,
    )


def _hps_by_hand(architecture: str, checkpoint: str, paths: list[str], prompts: list[str]) -> np.ndarray:
    """100 x cos from open_clip's own loader (which unwraps state_dict and module.) and forward."""
    model, _, preprocess = open_clip.create_model_and_transforms(architecture, pretrained=checkpoint)
    model.eval()
    pixels = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        image, text, _ = model(pixels, open_clip.get_tokenizer(architecture)(prompts))
    return 100.0 * (image.double() * text.double()).sum(dim=1).numpy()


def _pickscore_by_hand(model_dir: str, processor_dir: str, paths: list[str], prompts: list[str]) -> np.ndarray:
    """The diagonal of transformers' own logits_per_image = exp(t) x cos(image_i, text_j)."""
    model = CLIPModel.from_pretrained(model_dir).eval()
    processor = CLIPProcessor.from_pretrained(processor_dir)
    images = [Image.open(p).convert("RGB") for p in paths]
    inputs = processor(text=prompts, images=images, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits_per_image
    return torch.diagonal(logits).double().numpy()


def test_hps_is_100_times_the_cosine_of_the_checkpoints_model(tiny_clip, hps_checkpoint, pickscore_dirs, samples):
    config = _config(tiny_clip, hps_checkpoint, pickscore_dirs, models=("hps",))
    result = PreferenceScorer(config).score(samples)
    expected = _hps_by_hand(tiny_clip["model"], hps_checkpoint, list(samples["path_256"]), PROMPTS)
    assert list(result.columns.columns) == ["preference.hps"]
    assert list(result.columns.index) == list(samples.index)
    np.testing.assert_allclose(result.columns["preference.hps"], expected, rtol=1e-5, atol=1e-4)


def test_pickscore_is_the_models_logit_scale_times_the_cosine(tiny_clip, hps_checkpoint, pickscore_dirs, samples):
    config = _config(tiny_clip, hps_checkpoint, pickscore_dirs, models=("pickscore",))
    scorer = PreferenceScorer(config)
    result = scorer.score(samples)
    expected = _pickscore_by_hand(*pickscore_dirs, list(samples["path_256"]), PROMPTS)
    np.testing.assert_allclose(result.columns["preference.pickscore"], expected, rtol=1e-5, atol=1e-5)
    assert scorer.model("pickscore").logit_scale == pytest.approx(np.exp(LOGIT_SCALE), rel=1e-6)


def test_run_metrics_and_per_prompt_table_summarise_both_models(tiny_clip, hps_checkpoint, pickscore_dirs, samples):
    result = PreferenceScorer(_config(tiny_clip, hps_checkpoint, pickscore_dirs)).score(samples)
    assert list(result.columns.columns) == ["preference.hps", "preference.pickscore"]
    for name in ("hps", "pickscore"):
        # Fewer prompts than the bootstrap's min_n: the mean over prompts gets no interval.
        mean, low, high = prompt_mean_by_hand(result.columns[f"preference.{name}"], samples["prompt_id"])
        assert result.metrics[f"preference/{name}_mean"] == pytest.approx(mean)
        bounds = [result.metrics[f"preference/{name}_ci_{end}"] for end in ("low", "high")]
        assert bounds == ([None, None] if np.isnan(low) else [pytest.approx(low), pytest.approx(high)])
    table = result.tables["preference/per_prompt"].set_index("prompt")
    grouped = result.columns.groupby(samples["prompt"])["preference.hps"]
    np.testing.assert_allclose(table.loc[grouped.mean().index, "hps_mean"], grouped.mean())
    np.testing.assert_allclose(table.loc[grouped.max().index, "hps_max"], grouped.max())
    assert table.loc["a house by the lake", "n"] == 2


def test_the_64px_stage_scores_the_base_images(tiny_clip, hps_checkpoint, pickscore_dirs, samples, make_images):
    samples["path_64"] = [str(p) for p in make_images("base", len(PROMPTS), seed=32, size=64)]
    config = _config(tiny_clip, hps_checkpoint, pickscore_dirs, models=("hps",), stage="64")
    result = PreferenceScorer(config).score(samples)
    expected = _hps_by_hand(tiny_clip["model"], hps_checkpoint, list(samples["path_64"]), PROMPTS)
    np.testing.assert_allclose(result.columns["preference.hps"], expected, rtol=1e-5, atol=1e-4)


def test_a_missing_image_file_is_an_error(tiny_clip, hps_checkpoint, pickscore_dirs, samples):
    Path(samples["path_256"].iloc[1]).unlink()
    with pytest.raises(FileNotFoundError):
        PreferenceScorer(_config(tiny_clip, hps_checkpoint, pickscore_dirs, models=("hps",))).score(samples)


def _tiny_config(**options) -> PreferenceConfig:
    return PreferenceConfig(
        hps_architecture="harness-tiny-clip",
        hps_checkpoint=None,
        pickscore_model=PICKSCORE,
        pickscore_processor=PICKSCORE,
        bootstrap=BootstrapOptions(resamples=200),
        **options,
    )


def test_a_null_hps_checkpoint_scores_with_the_architectures_seeded_random_weights(samples, tmp_path):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(HPS_RANDOM_SEED)
        model = open_clip.create_model("harness-tiny-clip")
    checkpoint = tmp_path / "random.pt"
    torch.save(model.state_dict(), checkpoint)
    expected = _hps_by_hand("harness-tiny-clip", str(checkpoint), list(samples["path_256"]), PROMPTS)
    before = torch.get_rng_state()
    result = PreferenceScorer(_tiny_config(models=("hps",))).score(samples)
    np.testing.assert_allclose(result.columns["preference.hps"], expected, rtol=1e-5, atol=1e-4)
    assert torch.equal(torch.get_rng_state(), before)


def test_the_tiny_pickscore_scores_as_transformers_does_with_the_built_model(samples, tmp_path):
    model, processor = build(PICKSCORE)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "processor")
    expected = _pickscore_by_hand(
        str(tmp_path / "model"), str(tmp_path / "processor"), list(samples["path_256"]), PROMPTS
    )
    result = PreferenceScorer(_tiny_config(models=("pickscore",))).score(samples)
    np.testing.assert_allclose(result.columns["preference.pickscore"], expected, rtol=1e-5, atol=1e-5)


def test_the_tiny_models_need_no_weights():
    assert PreferenceScorer(_tiny_config()).weights() == ()


def test_a_tiny_pickscore_with_a_real_processor_is_refused():
    with pytest.raises(
        ScorerConfigError, match="pickscore_processor: 'laion/CLIP-ViT-H-14-laion2B-s32B-b79K' does not"
    ):
        PreferenceConfig(pickscore_model=PICKSCORE)


def test_weights_point_at_the_released_files_by_default():
    weights = PreferenceScorer(PreferenceConfig()).weights()
    assert [(w.source, w.fetch) for w in weights] == [
        ("hf://xswu/HPSv2/HPS_v2.1_compressed.pt", "hf download xswu/HPSv2 HPS_v2.1_compressed.pt"),
        ("hf://yuvalkirstain/PickScore_v1", "hf download yuvalkirstain/PickScore_v1"),
        (
            "hf://laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
            "hf download laion/CLIP-ViT-H-14-laion2B-s32B-b79K --include '*.json' --include '*.txt'",
        ),
    ]


def test_weights_of_local_files_say_whether_they_exist(tiny_clip, hps_checkpoint, pickscore_dirs, tmp_path):
    weights = PreferenceScorer(_config(tiny_clip, hps_checkpoint, pickscore_dirs)).weights()
    assert [(w.available, w.fetch) for w in weights] == [(True, None)] * 3
    missing = _config(tiny_clip, str(tmp_path / "none.pt"), pickscore_dirs, models=("hps",))
    (weight,) = PreferenceScorer(missing).weights()
    assert not weight.available


def test_config_composes_as_a_structured_config():
    merged = OmegaConf.merge(OmegaConf.structured(PreferenceConfig), {"models": ["pickscore"], "batch_size": 4})
    assert OmegaConf.to_object(merged) == PreferenceConfig(models=("pickscore",), batch_size=4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"models": ("imagereward",)}, "scorer.preference.models: expected a non-empty list of hps, pickscore"),
        ({"models": ("hps", "hps")}, "names an entry twice"),
        ({"stage": "128"}, "scorer.preference.stage: expected one of 64, 256, got '128'"),
        ({"hps_architecture": "ViT-Q-99"}, "scorer.preference.hps_architecture: unknown open_clip model 'ViT-Q-99'"),
        ({"hps_checkpoint": "hf://xswu/HPSv2"}, "scorer.preference.hps_checkpoint: expected hf://ORG/REPO/FILE"),
        ({"pickscore_model": ""}, "scorer.preference.pickscore_model: expected a hub model id or a local folder"),
        ({"batch_size": 0}, "scorer.preference.batch_size: expected an integer >= 1, got 0"),
        ({"bootstrap": BootstrapOptions(level=1.0)}, "scorer.preference.bootstrap.level: expected a number in (0, 1)"),
    ],
)
def test_bad_options_raise_one_clear_error(options, message):
    with pytest.raises(ScorerConfigError) as err:
        PreferenceConfig(**options)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
