"""Fixtures of the scorer tests: a tiny registered open_clip model, a tiny FID feature extractor, PNG images.

Everything is built in the test session with random weights; nothing is downloaded.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from harness.scorers.configs import BiasConfig, ClipConfig, FidConfig

CONF = Path(__file__).resolve().parents[2] / "conf"
TINY_CLIP = "test-registered-tiny-clip"
TINY_CLIP_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
# This initialisation gives image-prompt cosines of both signs, so CLIPScore's clamp at 0 is exercised.
TINY_CLIP_SEED = 2
TINY_FEATURES_SOURCE = '''
"""A 6-d stand-in for Inception: mean colour of the top and bottom halves, scaled to [-1, 1]."""
import torch


class HalfColours(torch.nn.Module):
    def forward(self, images):
        assert images.dtype == torch.uint8, images.dtype
        halves = torch.nn.functional.adaptive_avg_pool2d(images.double(), (2, 1)).flatten(1)
        return halves / 127.5 - 1.0
'''


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny open_clip architecture registered by the test, and a weights file of one random initialisation."""
    root = tmp_path_factory.mktemp("tiny_clip")
    config_path = root / f"{TINY_CLIP}.json"
    config_path.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config_path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_CLIP_SEED)
        model = open_clip.create_model(TINY_CLIP)
    weights = root / "tiny_clip.pt"
    torch.save(model.state_dict(), weights)
    return {"model": TINY_CLIP, "pretrained": str(weights)}


@pytest.fixture(scope="session")
def tiny_features(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`file.py:Class` of a tiny feature extractor written by the test, the way a user names their own."""
    path = tmp_path_factory.mktemp("tiny_features") / "half_colours.py"
    path.write_text(textwrap.dedent(TINY_FEATURES_SOURCE))
    return f"{path}:HalfColours"


def write_png(path: Path, rng: np.random.Generator, size: int | tuple[int, int]) -> Path:
    """A smooth random RGB image: a coarse random grid upsampled, so features vary between images."""
    width, height = (size, size) if isinstance(size, int) else size
    coarse = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR).save(path)
    return path


@pytest.fixture
def make_images(tmp_path: Path):
    """make_images(name, n, seed, size=256) -> list of PNG paths in tmp_path/name."""

    def make(name: str, n: int, seed: int, size: int | tuple[int, int] = 256) -> list[Path]:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        return [write_png(folder / f"{name}_{i:03d}.png", rng, size) for i in range(n)]

    return make


def samples_table(paths: list[Path], prompts: list[str], **columns) -> pd.DataFrame:
    """A samples table in the manifest's layout; keys are unique per file."""
    table = pd.DataFrame(
        {
            "key": [f"{i:04d}{Path(p).stem}" for i, p in enumerate(paths)],
            "prompt_id": [f"p{sorted(set(prompts)).index(p)}" for p in prompts],
            "prompt": prompts,
            "path_256": [str(p) for p in paths],
        }
    )
    for name, values in columns.items():
        table[name] = pd.Series(values, dtype=object)
    return table


def default_options() -> dict[str, dict]:
    """Each scorer's options as a run composes them (conf/scorer/NAME.yaml over its dataclass's defaults), as
    plain dicts."""
    classes = {"clip": ClipConfig, "fid": FidConfig, "bias": BiasConfig}
    return {
        name: OmegaConf.to_container(
            OmegaConf.merge(OmegaConf.structured(cls), OmegaConf.load(CONF / "scorer" / f"{name}.yaml")),
            enum_to_str=True,
        )
        for name, cls in classes.items()
    }


@pytest.fixture
def make_samples():
    """make_samples(paths, prompts, **columns) -> a samples table in the manifest's layout."""
    return samples_table


@pytest.fixture
def scorer_cfg(tiny_clip: dict[str, str], tiny_features: str) -> dict[str, dict]:
    """The default options pointed at the tiny models, with fewer resamples and KID subsets (reference unset)."""
    cfg = default_options()
    cfg["clip"].update(model=tiny_clip["model"], pretrained=tiny_clip["pretrained"], batch_size=4)
    cfg["clip"]["bootstrap"]["resamples"] = 200
    cfg["fid"].update(feature_extractor=tiny_features, kid_subsets=20, batch_size=4)
    cfg["fid"]["cmmd"].update(model=tiny_clip["model"], pretrained=tiny_clip["pretrained"])
    return cfg


@pytest.fixture(scope="session")
def clip_by_hand(tiny_clip: dict[str, str]):
    """Unit image or text embeddings of the tiny CLIP computed with open_clip directly (float64)."""
    model, _, preprocess = open_clip.create_model_and_transforms(tiny_clip["model"], pretrained=tiny_clip["pretrained"])
    model.eval()
    tokenizer = open_clip.get_tokenizer(tiny_clip["model"])

    def embed(paths: list[Path] | None = None, texts: list[str] | None = None) -> np.ndarray:
        with torch.no_grad():
            if paths is not None:
                rows = model.encode_image(torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths]))
            else:
                rows = model.encode_text(tokenizer(texts))
        rows = rows.double().numpy()
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    return embed


def half_colours_by_hand(paths: list[Path]) -> np.ndarray:
    """The test extractor's features in NumPy: mean colour of the top and bottom halves of each 256px image."""
    rows = []
    for path in paths:
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        assert pixels.shape == (256, 256, 3)
        top, bottom = pixels[:128].mean(axis=(0, 1)), pixels[128:].mean(axis=(0, 1))
        # Channel-major, as torch flattens (N, C, 2, 1): R top, R bottom, G top, ...
        rows.append(np.stack([top, bottom], axis=1).reshape(-1) / 127.5 - 1.0)
    return np.array(rows)


@pytest.fixture
def features_by_hand():
    return half_colours_by_hand
