"""The guide_clip scorer: the noised CLIP of the run's guide, at t=0, on the 64 px base images and their prompts.

Its numbers are checked against the noised CLIP's encoders called directly (harness.glide.noised_clip), against
the CLIP-guided pipeline's own guide for model=tiny, and against released-format files; absent files are named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from harness.glide.models import ModelSpec, load_pipeline
from harness.glide.noised_clip import ImageEncoder, TextEncoder, load_encoders, tokenize
from harness.glide.presets import TINY_NOISED_CLIP
from harness.scorers import ScorerConfigError, build_scorers
from harness.scorers.guide_clip import CLIP_FETCH

TINY = ModelSpec(name="tiny", base="tiny_base", upsample="tiny_upsample", weights="random", seed=0,
                 clip="tiny_noised_clip")  # fmt: skip
PROMPTS = ["a corgi in a field", "a red cube", "a corgi in a field"]


@pytest.fixture
def samples(tmp_path: Path) -> pd.DataFrame:
    """Three 64 px PNGs of random pixels (two sharing a prompt), as a manifest's rows."""
    rng = np.random.default_rng(5)
    paths = []
    for i in range(len(PROMPTS)):
        path = tmp_path / f"s{i}_64.png"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    ids = {"a corgi in a field": "corgi", "a red cube": "cube"}
    return pd.DataFrame({"prompt": PROMPTS, "prompt_id": [ids[p] for p in PROMPTS], "path_64": paths})


def by_hand(text_encoder: TextEncoder, image_encoder: ImageEncoder, samples: pd.DataFrame, t: int) -> np.ndarray:
    """Cosine of the raw embeddings, normalised in NumPy; pixels u / 127.5 - 1, the released tokenizer."""
    with torch.no_grad():
        tokens, lens = tokenize(list(samples["prompt"]))
        z_text = text_encoder(tokens, lens).double().numpy()
        pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in samples["path_64"]])
        x = torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
        z_image = image_encoder(x, torch.full((len(x),), t)).double().numpy()
    z_text /= np.linalg.norm(z_text, axis=1, keepdims=True)
    z_image /= np.linalg.norm(z_image, axis=1, keepdims=True)
    return (z_text * z_image).sum(axis=1)


def tiny_encoders(seed: int) -> tuple[TextEncoder, ImageEncoder]:
    """The tiny preset's two encoders drawn from `seed`, text encoder first (model=tiny's guide: seed + 2)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TextEncoder(TINY_NOISED_CLIP).eval(), ImageEncoder(TINY_NOISED_CLIP).eval()


def scorer_for(spec: ModelSpec, tmp_path: Path, **options):
    (scorer,) = build_scorers(["guide_clip"], {"guide_clip": options}, cache_dir=tmp_path / "cache", model=spec)
    return scorer


@pytest.mark.parametrize("timestep", [0, 500])
def test_scores_are_the_noised_clips_cosine_called_directly(samples, tmp_path, timestep):
    result = scorer_for(TINY, tmp_path, timestep=timestep).score(samples)
    expected = by_hand(*tiny_encoders(TINY.seed + 2), samples, timestep)
    np.testing.assert_allclose(result.columns["guide_clip.cos"], expected, atol=1e-5)
    np.testing.assert_allclose(result.columns["guide_clip.score"], 100.0 * expected, atol=1e-3)
    corgi, cube = (expected[0] + expected[2]) / 2, expected[1]
    assert result.metrics["guide_clip/score_mean"] == pytest.approx(100.0 * (corgi + cube) / 2, abs=1e-3)
    assert result.metrics["guide_clip/n_prompts"] == 2.0


def test_with_model_tiny_it_equals_the_guides_own_embeddings(samples, tmp_path):
    scorer = scorer_for(TINY, tmp_path)
    guide = load_pipeline(TINY, guide=True).guide
    prompts = list(samples["prompt"])
    x = torch.stack(
        [torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1) for p in samples["path_64"]]
    )
    with torch.no_grad():
        z_image = guide.image_encoder(x.float() / 127.5 - 1.0, torch.zeros(len(x), dtype=torch.long))
        z_image = z_image / (z_image.norm(dim=-1, keepdim=True) + 1e-12)
        z_text = guide.encode(prompts)
    torch.testing.assert_close(scorer.image_embeddings(list(samples["path_64"])), z_image, rtol=0, atol=1e-6)
    torch.testing.assert_close(scorer.text_embeddings(prompts), z_text, rtol=0, atol=1e-6)


def test_a_model_of_other_seed_scores_with_other_encoders(samples, tmp_path):
    other = ModelSpec(**{**vars(TINY), "seed": 7})
    result = scorer_for(other, tmp_path).score(samples)
    np.testing.assert_allclose(result.columns["guide_clip.cos"], by_hand(*tiny_encoders(9), samples, 0), atol=1e-5)


def test_released_format_files_are_loaded_as_the_guide_loads_them(samples, tmp_path):
    text_encoder, image_encoder = tiny_encoders(11)
    torch.save(text_encoder.state_dict(), tmp_path / "text.pt")
    torch.save(image_encoder.state_dict(), tmp_path / "image.pt")
    spec = ModelSpec(name="glide", base="tiny_base", upsample="tiny_upsample", clip="tiny_noised_clip",
                     clip_text_path=str(tmp_path / "text.pt"), clip_image_path=str(tmp_path / "image.pt"),
                     cache_dir=str(tmp_path / "glide_cache"), download=False)  # fmt: skip
    scorer = scorer_for(spec, tmp_path)
    assert all(weight.available for weight in scorer.weights())
    loaded = load_encoders(tmp_path / "text.pt", tmp_path / "image.pt", TINY_NOISED_CLIP)
    expected = by_hand(*loaded, samples, 0)
    np.testing.assert_allclose(scorer.score(samples).columns["guide_clip.cos"], expected, atol=1e-5)


def test_absent_released_files_are_named_with_the_fetch_command(tmp_path):
    spec = ModelSpec(cache_dir=str(tmp_path / "empty"), download=False)
    weights = scorer_for(spec, tmp_path).weights()
    assert [Path(w.source).name for w in weights] == ["clip_image_enc.pt", "clip_text_enc.pt"]
    assert not any(w.available for w in weights)
    assert all(w.fetch == f"{CLIP_FETCH} --cache-dir {tmp_path / 'empty'}" for w in weights)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "clip_image_enc.pt").write_bytes(b"cached")
    assert [w.available for w in scorer_for(spec, tmp_path).weights()] == [True, False]


def test_random_weights_need_no_files(tmp_path):
    assert scorer_for(TINY, tmp_path).weights() == ()


def test_without_the_runs_model_spec_it_refuses_in_one_line(tmp_path):
    with pytest.raises(ScorerConfigError, match="guide_clip.*model spec"):
        build_scorers(["guide_clip"], {}, cache_dir=tmp_path)


def test_a_negative_timestep_names_the_option(tmp_path):
    with pytest.raises(ScorerConfigError, match=r"scorer\.guide_clip\.timestep.*-1"):
        scorer_for(TINY, tmp_path, timestep=-1)


def test_a_timestep_beyond_the_guides_schedule_names_the_option(tmp_path):
    with pytest.raises(ScorerConfigError, match=r"scorer\.guide_clip\.timestep.*below 1000.*1000"):
        scorer_for(TINY, tmp_path, timestep=1000)
