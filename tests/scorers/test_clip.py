"""The clip scorer against a direct open_clip computation and torchmetrics' CLIPScore on the same tiny model."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
from PIL import Image
from torchmetrics.multimodal.clip_score import CLIPScore

from harness.scorers import ScorerConfigError, build_scorers

PROMPTS = ["a church", "a corgi", "a church", "a polar bear sailing a ship", "a corgi", "a church"]


class _OpenClipAsHF(torch.nn.Module):
    """The two methods torchmetrics' CLIPScore calls on a Hugging Face CLIP model, served by open_clip."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model.eval()
        self.config = SimpleNamespace(text_config=SimpleNamespace(max_position_embeddings=model.context_length))

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixel_values)

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(input_ids)


def _torchmetrics_clip_score(tiny_clip: dict[str, str]) -> CLIPScore:
    model, _, preprocess = open_clip.create_model_and_transforms(tiny_clip["model"], pretrained=tiny_clip["pretrained"])
    tokenizer = open_clip.get_tokenizer(tiny_clip["model"])

    def processor(images=None, text=None, **_):
        if images is not None:
            pil = [Image.fromarray(image.permute(1, 2, 0).numpy()) for image in images]
            return {"pixel_values": torch.stack([preprocess(p) for p in pil])}
        ids = tokenizer(text)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    return CLIPScore(model_name_or_path=lambda: (_OpenClipAsHF(model), processor))


@pytest.fixture
def scored(scorer_cfg, make_images, make_samples, tmp_path):
    paths = make_images("gen", len(PROMPTS), seed=11)
    samples = make_samples(paths, PROMPTS)
    (scorer,) = build_scorers(["clip"], scorer_cfg, cache_dir=tmp_path / "cache")
    return samples, scorer.score(samples)


def test_cosine_equals_a_direct_open_clip_computation(scored, clip_by_hand):
    samples, result = scored
    images, texts = clip_by_hand(list(samples["path_256"])), clip_by_hand(texts=list(samples["prompt"]))
    np.testing.assert_allclose(result.columns["clip.cos"], (images * texts).sum(axis=1), rtol=1e-5, atol=1e-6)


def test_score_per_sample_equals_torchmetrics_clip_score(scored, tiny_clip):
    samples, result = scored
    metric = _torchmetrics_clip_score(tiny_clip)
    expected = []
    for path, prompt in zip(samples["path_256"], samples["prompt"], strict=True):
        image = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
        metric.update(image, prompt)
        expected.append(float(metric.compute()))
        metric.reset()
    cos = result.columns["clip.cos"].to_numpy()
    assert (cos < 0).any() and (cos > 0).any(), "the tiny model must give cosines of both signs"
    np.testing.assert_allclose(result.columns["clip.score"], expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(result.columns["clip.score"] == 0, cos <= 0)


def test_run_metrics_are_the_mean_of_prompt_means_with_an_interval_over_prompts(scored):
    samples, result = scored
    score = result.columns["clip.score"].to_numpy()
    prompt_means = samples.assign(score=score).groupby("prompt_id")["score"].mean().to_numpy()
    metrics = result.metrics
    assert metrics["clip/n"] == len(PROMPTS) and metrics["clip/n_prompts"] == 3
    # Prompts, not images, are the independent units: 3 prompt means, too few for an interval that covers.
    assert metrics["clip/score_mean"] == pytest.approx(prompt_means.mean())
    assert metrics["clip/score_ci_low"] is None and metrics["clip/score_ci_high"] is None
    assert metrics["clip/cos_mean"] == pytest.approx(result.columns["clip.cos"].mean())
    assert f"score_mean {prompt_means.mean():.4g}" in result.notes[0] and "no_interval" in result.notes[0]


def test_per_prompt_table_has_mean_max_and_interval_of_each_prompt(scored):
    samples, result = scored
    table = result.tables["clip/per_prompt"].set_index("prompt")
    frame = samples.assign(score=result.columns["clip.score"])
    grouped = frame.groupby("prompt")["score"]
    assert sorted(table.index) == sorted(set(PROMPTS))
    np.testing.assert_allclose(table.loc[grouped.mean().index, "score_mean"], grouped.mean())
    np.testing.assert_allclose(table.loc[grouped.max().index, "score_max"], grouped.max())
    assert table.loc["a church", "n"] == 3
    assert table.loc["a polar bear sailing a ship", "score_ci_low"] is None or np.isnan(
        table.loc["a polar bear sailing a ship", "score_ci_low"]
    )
    church = table.loc["a church"]  # 3 seeds: too few for an interval that covers
    assert pd.isna(church["score_ci_low"]) and pd.isna(church["score_ci_high"])
    assert church["ci_method"] == "no_interval"


def test_embeddings_are_cached_by_image_key_and_model(scorer_cfg, make_images, make_samples, tmp_path):
    paths = make_images("gen", 4, seed=12)
    samples = make_samples(paths, PROMPTS[:4])
    cache = tmp_path / "cache"
    (first,) = build_scorers(["clip"], scorer_cfg, cache_dir=cache)
    before = first.score(samples).columns["clip.cos"].to_numpy()
    model_dirs = list((cache / "features").iterdir())
    assert len(model_dirs) == 1
    assert sorted(p.stem for p in model_dirs[0].glob("*.npy")) == sorted(samples["key"])

    # Other pixels under the same keys: a fresh scorer reads the cached embeddings, not the files.
    for path in paths:
        Image.new("RGB", (256, 256), (255, 0, 0)).save(path)
    (again,) = build_scorers(["clip"], scorer_cfg, cache_dir=cache)
    np.testing.assert_array_equal(again.score(samples).columns["clip.cos"], before)

    # Another model has its own cache entries and sees the new pixels.
    scorer_cfg["clip"].update(pretrained=None, random_init_seed=5)
    (other,) = build_scorers(["clip"], scorer_cfg, cache_dir=cache)
    other.score(samples)
    assert len(list((cache / "features").iterdir())) == 2


def test_a_model_config_json_path_is_registered_and_keyed_by_its_content(
    scorer_cfg, tiny_clip, make_images, make_samples, tmp_path
):
    paths = make_images("gen", 2, seed=13)
    samples = make_samples(paths, PROMPTS[:2])
    cache = tmp_path / "cache"
    dims = []
    for embed_dim, folder in ((16, "a"), (8, "b")):
        config = tmp_path / folder / "my-clip.json"
        config.parent.mkdir()
        config.write_text(json.dumps({**open_clip.get_model_config(tiny_clip["model"]), "embed_dim": embed_dim}))
        scorer_cfg["clip"].update(model=str(config), pretrained=None)
        (scorer,) = build_scorers(["clip"], scorer_cfg, cache_dir=cache)
        scorer.score(samples)
        dims.append(scorer.encoder.image_embeddings(list(samples["path_256"]), list(samples["key"])).shape[1])
    assert dims == [16, 8]
    assert len(list((cache / "features").iterdir())) == 2


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"model": "ViT-Q-99"}, "unknown open_clip model 'ViT-Q-99'"),
        ({"model": "ViT-B-32", "pretrained": "no-such-tag"}, "'no-such-tag' is neither a pretrained tag of ViT-B-32"),
        ({"model": "/nowhere/clip.json"}, "model config file '/nowhere/clip.json' does not exist"),
        ({"model": "local-dir:/nowhere"}, "'local-dir:/nowhere' is not a folder with open_clip_config.json"),
        ({"batch_size": 0}, "scorer.clip.batch_size: expected an integer >= 1, got 0"),
        ({"bootstrap": {"resamples": 10, "seed": 0, "level": 95}}, "scorer.clip.bootstrap.level"),
        ({"bootstrap": {"min_n": 1}}, "scorer.clip.bootstrap.min_n: expected an integer >= 2, got 1"),
        ({"batch_size": "many"}, "scorer.clip.batch_size: Value 'many' of type 'str' could not be converted"),
        ({"colour": "red"}, "scorer.clip: unknown option 'colour'"),
    ],
)
def test_bad_clip_options_raise_one_clear_error(scorer_cfg, tmp_path, update, message):
    scorer_cfg["clip"].update(update)
    with pytest.raises(ScorerConfigError) as err:
        build_scorers(["clip"], scorer_cfg, cache_dir=tmp_path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_image_file_of_an_uncached_sample_is_an_error(scorer_cfg, make_images, make_samples, tmp_path):
    paths = make_images("gen", 2, seed=14)
    samples = make_samples(paths, PROMPTS[:2])
    shutil.rmtree(paths[0].parent)
    (scorer,) = build_scorers(["clip"], scorer_cfg, cache_dir=tmp_path / "cache")
    with pytest.raises(FileNotFoundError):
        scorer.score(samples)
