"""Inpainting in the harness: a prompt's source and mask read as the official notebook does, the known pixels
kept exactly through the base stage, and the inputs' pixels in the content key only when a prompt has them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.config.inpaint_inputs import batch_known, load_inputs
from harness.config.schema import PromptConfig, SamplerConfig, SuiteConfig
from harness.config.suites import load_suite
from harness.errors import ConfigError
from harness.glide.models import ModelSpec, load_pipeline
from harness.run.plan import SampleSpec, Sampling

TINY_INPAINT = ModelSpec(name="tiny_inpaint", base="tiny_base_inpaint", upsample="tiny_upsample_inpaint",
                         weights="random", seed=0)  # fmt: skip
RECTANGLE = {"left": 0.25, "top": 0.125, "right": 0.75, "bottom": 0.5}
ENVIRONMENT = {"model_id": "m", "device_type": "cpu", "dtype": "fp32", "per_sample": True, "compiled": False}


@pytest.fixture(scope="module")
def source_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("inpaint") / "source.png"
    Image.fromarray(rng.integers(0, 256, (90, 130, 3), dtype=np.uint8)).save(path)
    return path


def keep_of_rectangle(size: int) -> np.ndarray:
    """The rectangle's keep-mask written out: rows 8..31 and columns 16..47 of 64 repainted."""
    keep = np.ones((size, size), dtype=bool)
    scale = size // 64
    keep[8 * scale : 32 * scale, 16 * scale : 48 * scale] = False
    return keep


def pil_resized(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))


@pytest.fixture(scope="module")
def inpainted(source_file):
    pipeline = load_pipeline(TINY_INPAINT)
    inputs = load_inputs(str(source_file), RECTANGLE, "prompt 'edit'")
    prompts, seeds = ["a corgi in a field"] * 2, [0, 1]
    known_64, known_256 = (batch_known([inputs, inputs], stage) for stage in ("base", "upsample"))
    base = pipeline.sample_base(prompts, seeds, guidance_scale=5.0, steps="5", known=known_64)
    up = pipeline.upsample(prompts, base, seeds, steps="4", temperature=0.997, loop="ancestral", known=known_256)
    return base.numpy(), up.numpy()


def test_known_pixels_of_the_64px_image_equal_the_pil_bicubic_source_exactly(source_file, inpainted):
    # The last ancestral step returns the posterior mean at t = 0, which is the imposed x_0 itself: source
    # values k / 127.5 - 1 come back to the uint8 level k exactly.
    base, _ = inpainted
    keep = keep_of_rectangle(64)
    expected = pil_resized(source_file, 64)
    for image in base:
        assert np.array_equal(image[keep], expected[keep])


def test_known_pixels_of_the_256px_image_equal_the_source_at_256(source_file, inpainted):
    _, up = inpainted
    keep = keep_of_rectangle(256)
    expected = pil_resized(source_file, 256)
    for image in up:
        assert np.array_equal(image[keep], expected[keep])


def test_the_repainted_region_is_sampled_not_copied(source_file, inpainted):
    base, _ = inpainted
    hole = ~keep_of_rectangle(64)
    assert not np.array_equal(base[0][hole], pil_resized(source_file, 64)[hole])
    assert not np.array_equal(base[0][hole], base[1][hole])  # two seeds, two fills


def test_a_mask_image_gives_the_same_inputs_as_the_equal_rectangle(source_file, tmp_path):
    mask_file = tmp_path / "mask.png"
    Image.fromarray(keep_of_rectangle(64).astype(np.uint8) * 255).save(mask_file)
    from_file = load_inputs(str(source_file), str(mask_file), "p")
    from_rectangle = load_inputs(str(source_file), RECTANGLE, "p")
    assert from_file.digest == from_rectangle.digest
    assert np.array_equal(from_file.mask_64[0, 0].numpy(), keep_of_rectangle(64))


def spec_of(prompt: PromptConfig) -> SampleSpec:
    suite = load_suite(SuiteConfig(name="s", prompts=[prompt]))
    mode = "inpaint" if prompt.image is not None else "text2im"  # the mode a model of each kind runs in
    return SampleSpec(suite.prompts[0], 0, Sampling.create(SamplerConfig(device="cpu"), mode=mode, **ENVIRONMENT))


def test_a_text_prompt_keeps_the_key_formula_of_text_to_image(source_file):
    key = spec_of(PromptConfig(id="a", text="a field of grass")).base_key
    fields = {"stage": "base", "prompt": "a field of grass", "seed": 0, **ENVIRONMENT, "guidance_scale": 3.0,
              "base_steps": "100"}  # fmt: skip
    assert key == hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def test_source_pixels_and_mask_enter_the_key(source_file, tmp_path):
    text = spec_of(PromptConfig(id="a", text="a corgi")).base_key
    edit = spec_of(PromptConfig(id="a", text="a corgi", image=str(source_file), mask=RECTANGLE)).base_key
    other_mask = spec_of(PromptConfig(id="a", text="a corgi", image=str(source_file), mask={**RECTANGLE, "left": 0.5}))
    copy = tmp_path / "copy.png"
    copy.write_bytes(source_file.read_bytes())
    same_pixels = spec_of(PromptConfig(id="a", text="a corgi", image=str(copy), mask=RECTANGLE)).base_key
    pixels = np.asarray(Image.open(source_file)).copy()
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(tmp_path / "changed.png")
    changed = spec_of(PromptConfig(id="a", text="a corgi", image=str(tmp_path / "changed.png"), mask=RECTANGLE))
    assert len({text, edit, other_mask.base_key, changed.base_key}) == 4
    assert same_pixels == edit  # the key follows the pixels, not the path


def test_a_prompt_with_an_image_but_no_mask_is_refused(source_file):
    with pytest.raises(ConfigError, match="prompt 'a'.*needs both image and mask; mask is missing"):
        load_suite(SuiteConfig(name="s", prompts=[PromptConfig(id="a", text="t", image=str(source_file))]))
