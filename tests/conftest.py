"""Shared fixtures: where the official GLIDE reference data lies, and its tiny models loaded with their weights.

The data sits in ../shared/glide_reference beside the repository; tests that need it skip where it is absent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from harness.glide.noised_clip import ImageEncoder, NoisedClipConfig, TextEncoder
from harness.glide.presets import ModelConfig
from harness.glide.unet import GlideUNet

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "glide_reference"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker takes its share of the torch threads: workers that each ran a thread per
    core would contend for the cores (tests that are about threads set their own count)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        torch.set_num_threads(max(1, torch.get_num_threads() // int(workers)))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The GLIDE reference data directory (see its README.md)."""
    if not (REFERENCE_DIR / "README.md").is_file():
        pytest.skip(f"GLIDE reference data not found at {REFERENCE_DIR}")
    return REFERENCE_DIR


def reference_config(case_dir: Path) -> ModelConfig:
    """The ModelConfig of a tiny reference model (`tiny_base_a`, `tiny_up_a`, `tiny_base_inpaint_a`, ...).

    config.json holds the official option names; its `low_res` (the upsampler's input size) is an input shape,
    not a model option, and the noise schedule is recorded with the case's sampling loop.
    """
    options = json.loads((case_dir / "config.json").read_text())
    options.pop("low_res", None)
    (loop_file,) = case_dir.glob("sample_*.json")
    loop = json.loads(loop_file.read_text())
    return ModelConfig(**options, noise_schedule=loop["noise_schedule"], diffusion_steps=loop["diffusion_steps"])


@pytest.fixture(scope="session")
def reference_model(reference_dir: Path) -> Callable[[str], GlideUNet]:
    """`reference_model(case)` -> that tiny reference model in eval mode with its weights loaded strictly.

    Loaded once per session; tests must not change its weights (hooks they add they remove).
    """
    models: dict[str, GlideUNet] = {}

    def load(case: str) -> GlideUNet:
        if case not in models:
            model = GlideUNet(reference_config(reference_dir / case))
            model.load_state_dict(load_file(reference_dir / case / "weights.safetensors"), strict=True)
            models[case] = model.eval().requires_grad_(False)
        return models[case]

    return load


@pytest.fixture(scope="session")
def reference_clip(reference_dir: Path) -> tuple[NoisedClipConfig, TextEncoder, ImageEncoder]:
    """The tiny noised CLIP of `tiny_clip_a`: (config, text encoder, image encoder), weights loaded strictly."""
    case = reference_dir / "tiny_clip_a"
    cfg = NoisedClipConfig(**json.loads((case / "config.json").read_text()))
    text_encoder, image_encoder = TextEncoder(cfg), ImageEncoder(cfg)
    text_encoder.load_state_dict(load_file(case / "text_enc.safetensors"), strict=True)
    image_encoder.load_state_dict(load_file(case / "image_enc.safetensors"), strict=True)
    return cfg, text_encoder.eval().requires_grad_(False), image_encoder.eval().requires_grad_(False)


@pytest.fixture(scope="session")
def reference_clip_base(reference_dir: Path) -> GlideUNet:
    """The tiny text-conditional base model that `tiny_clip_a`'s CLIP-guided loop samples with."""
    case = reference_dir / "tiny_clip_a"
    options = json.loads((case / "base_config.json").read_text())
    loop = json.loads((case / "sample_ddpm_clip.json").read_text())
    model = GlideUNet(ModelConfig(**options, noise_schedule=loop["noise_schedule"]))
    model.load_state_dict(load_file(case / "base_weights.safetensors"), strict=True)
    return model.eval().requires_grad_(False)
