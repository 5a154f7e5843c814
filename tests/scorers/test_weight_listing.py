"""The weight files the clip, bias and fid scorers list, looked up where open_clip, huggingface_hub and torch
hub keep them, without downloading: absent in an empty cache, present once the file lies where the library
looks (built here by hand in the Hugging Face cache layout: refs/main -> snapshots/<revision>/<file>).
"""

from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants
import pytest

from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import ClipConfig, ExtractorConfig
from harness.scorers.fid_features import extractor_weights
from harness.scorers.weights import missing, open_clip_weights

# open_clip 3.x's registry entry for ViT-L-14:openai is the hub repository below, file unnamed (trailing slash).
REPO = "timm/vit_large_patch14_clip_224.openai"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's URL's basename


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def put_in_hub_cache(cache: Path, repo: str, filename: str) -> None:
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snapshot = folder / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / filename).write_bytes(b"weights")


def test_the_real_clip_is_missing_from_an_empty_cache_with_the_command_that_fetches_it(hub_cache):
    (weight,) = open_clip_weights("CLIP", "ViT-L-14", "openai")
    assert not weight.available
    assert weight.source == f"hf://{REPO}/open_clip_pytorch_model.bin"
    assert weight.fetch == "python -m harness.fetch --only clip --clip ViT-L-14:openai"


@pytest.mark.parametrize("filename", ["open_clip_pytorch_model.bin", "open_clip_model.safetensors"])
def test_the_real_clip_is_present_once_its_file_is_in_the_hub_cache(hub_cache, filename):
    put_in_hub_cache(hub_cache, REPO, filename)
    assert not missing(open_clip_weights("CLIP", "ViT-L-14", "openai"))


def test_a_random_clip_needs_no_weights(hub_cache):
    encoder = ClipEncoder(ClipConfig(model="harness-tiny-clip", pretrained=None), cache_dir=None, device="cpu")
    assert encoder.weights() == ()


def test_a_local_clip_weights_file_is_listed_as_itself(tmp_path):
    path = tmp_path / "clip.pt"
    path.write_bytes(b"weights")
    (weight,) = open_clip_weights("CLIP", "ViT-B-32", str(path))
    assert weight.available and weight.source == str(path) and weight.fetch is None


def test_fid_inception_weights_are_looked_up_in_torch_hubs_checkpoints(tmp_path, monkeypatch):
    # torch hub's folder is $TORCH_HOME/hub (torch.hub.set_dir would pin it for every later test).
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    hub = tmp_path / "hub"
    (weight,) = extractor_weights(ExtractorConfig())
    assert weight.source == str(hub / "checkpoints" / INCEPTION_FILE) and not weight.available
    assert weight.fetch == "python -m harness.fetch --only inception"
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / INCEPTION_FILE).write_bytes(b"weights")
    assert not missing(extractor_weights(ExtractorConfig()))


def test_a_custom_feature_extractor_lists_no_inception(tmp_path):
    assert extractor_weights(ExtractorConfig(feature_extractor="harness.scorers.tiny_features:TinyFeatures")) == ()
