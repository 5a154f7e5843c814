"""Specification of GLIDE's inpainting mode: the released inpainting UNets, their loops and their inputs.

Forwards and whole loops are matched against records of the official implementation (tiny random weights);
image and mask preparation against PIL and NumPy computed here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from harness.glide.diffusion import Schedule
from harness.glide.first_order import noise_from_list, sample_ancestral
from harness.glide.masks import (
    InpaintError,
    keep_known_pixels,
    keep_mask,
    rectangle_mask,
    source_tensor,
    source_tensors,
    upsampled_mask,
)
from harness.glide.unet import TextEmbedding

FORWARD_TOLERANCE = 1e-5
LOOP_TOLERANCE = 1e-4
CASES = ["tiny_base_inpaint_a", "tiny_up_inpaint_a"]


def _max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    return float((actual.double() - expected.double()).abs().max())


# ---------------------------------------------------------------- reference forward parity


@pytest.fixture(scope="module", params=CASES)
def recorded(request, reference_dir: Path, reference_model):
    reference = load_file(reference_dir / request.param / "forward.safetensors")
    model = reference_model(request.param)
    names = [key.removeprefix("act.") for key in reference if key.startswith("act.")]
    acts: dict[str, torch.Tensor] = {}
    hooks = [
        model.get_submodule(name).register_forward_hook(lambda _m, _i, out, name=name: acts.__setitem__(name, out))
        for name in names
    ]
    try:
        with torch.no_grad():
            text = model.encode_text(reference["in.tokens"], reference["in.mask"])
            out = model(
                reference["in.x"],
                reference["in.timesteps"],
                text,
                reference.get("in.low_res"),
                inpaint_image=reference["in.inpaint_image"],
                inpaint_mask=reference["in.inpaint_mask"],
            )
    finally:
        for hook in hooks:
            hook.remove()
    return reference, out, acts, model


def test_reference_masks_are_binary_and_partial(recorded):
    mask = recorded[0]["in.inpaint_mask"]
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert ((mask.flatten(1).mean(1) > 0) & (mask.flatten(1).mean(1) < 1)).all()


def test_inpainting_forward_matches_reference(recorded):
    reference, out, _, _ = recorded
    assert _max_error(out, reference["out"]) <= FORWARD_TOLERANCE


def test_every_block_activation_of_the_inpainting_models_matches_reference(recorded):
    reference, _, acts, _ = recorded
    names = [key.removeprefix("act.") for key in reference if key.startswith("act.")]
    assert len(names) >= 10
    errors = {name: _max_error(acts[name], reference[f"act.{name}"]) for name in names}
    assert {name: err for name, err in errors.items() if err > FORWARD_TOLERANCE} == {}


def test_missing_image_and_mask_are_zeros(recorded):
    reference, _, _, model = recorded
    x, t = reference["in.x"][:2], reference["in.timesteps"][:2]
    low_res = reference.get("in.low_res")
    low_res = None if low_res is None else low_res[:2]
    zeros_image, zeros_mask = torch.zeros_like(x), torch.zeros_like(x[:, :1])
    with torch.no_grad():
        text = model.encode_text(reference["in.tokens"][:2], reference["in.mask"][:2])
        implicit = model(x, t, text, low_res)
        explicit = model(x, t, text, low_res, inpaint_image=zeros_image, inpaint_mask=zeros_mask)
        no_mask = model(x, t, text, low_res, inpaint_image=reference["in.inpaint_image"][:2])
    torch.testing.assert_close(implicit, explicit, rtol=0, atol=0)
    torch.testing.assert_close(no_mask, explicit, rtol=0, atol=0)  # image * zero mask


def test_text_to_image_model_refuses_inpainting_inputs(reference_dir, reference_model):
    model = reference_model("tiny_base_a")
    reference = load_file(reference_dir / "tiny_base_a" / "forward.safetensors")
    text = TextEmbedding(reference["text.xf_proj"], reference["text.xf_out"])
    mask = torch.ones_like(reference["in.x"][:, :1])
    with pytest.raises(ValueError, match="model.inpaint=true"):
        model(reference["in.x"], reference["in.timesteps"], text, inpaint_mask=mask)


# ---------------------------------------------------------------- whole loops


def _record(reference_dir: Path, case: str, loop: str) -> tuple[dict, dict[str, torch.Tensor], Schedule]:
    meta = json.loads((reference_dir / case / f"{loop}.json").read_text())
    record = load_file(reference_dir / case / f"{loop}.safetensors")
    sched = Schedule.create(meta["noise_schedule"], meta["diffusion_steps"], meta["timestep_respacing"])
    return meta, record, sched


def test_guided_inpainting_ancestral_loop_matches_reference(reference_dir, reference_model):
    meta, record, sched = _record(reference_dir, "tiny_base_inpaint_a", "sample_ddpm_cfg_inpaint")
    model = reference_model("tiny_base_inpaint_a")
    batch, scale = meta["batch_size"], meta["guidance_scale"]
    source, known = record["source"], record["known_mask"]
    # The doubled batch: conditional rows, then empty-prompt rows; both halves see the same image and mask.
    text = model.encode_text(record["tokens"], record["mask"])
    image, mask = torch.cat([source * known] * 2), torch.cat([known] * 2)

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = model(torch.cat([x, x]), torch.cat([t, t]), text, inpaint_image=image, inpaint_mask=mask)
        cond, uncond = out.chunk(2)
        eps = uncond[:, :3] + scale * (cond[:, :3] - uncond[:, :3])
        return torch.cat([eps, cond[:, 3:]], dim=1)

    noise = [n[:batch] for n in record["noise"]]
    assert len(noise) == 1 + sched.num_steps
    denoised_fn = keep_known_pixels(source, known)
    sample = sample_ancestral(
        model_fn, noise[0], sched, noise_from_list(noise[1:]), meta["clip_denoised"], denoised_fn=denoised_fn
    )
    assert _max_error(sample, record["sample"]) <= LOOP_TOLERANCE


def test_inpainting_upsampler_fast27_ancestral_loop_matches_reference(reference_dir, reference_model):
    meta, record, sched = _record(reference_dir, "tiny_up_inpaint_a", "sample_ancestral_inpaint")
    model = reference_model("tiny_up_inpaint_a")
    assert sched.num_steps == 27 == len(record["noise"])
    source, known = record["source"], record["known_mask"]
    text = model.encode_text(record["tokens"], record["mask"])

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model(x, t, text, record["low_res"], inpaint_image=source * known, inpaint_mask=known)

    sample = sample_ancestral(
        model_fn,
        record["x_T"],
        sched,
        noise_from_list(list(record["noise"])),
        meta["clip_denoised"],
        denoised_fn=keep_known_pixels(source, known),
    )
    assert _max_error(sample, record["sample"]) <= LOOP_TOLERANCE


def test_known_pixels_replace_x0_where_the_mask_keeps_them():
    generator = torch.Generator().manual_seed(0)
    x0, source = torch.randn(2, 3, 4, 4, generator=generator), torch.randn(2, 3, 4, 4, generator=generator)
    mask = (torch.rand(2, 1, 4, 4, generator=generator) > 0.5).float()
    expected = np.where(mask.numpy() == 1, source.numpy(), x0.numpy())
    np.testing.assert_array_equal(keep_known_pixels(source, mask)(x0).numpy(), expected)


# ---------------------------------------------------------------- source image


def _photo(height: int = 90, width: int = 70, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("size", [64, 256])
def test_source_is_pil_bicubic_scaled_to_unit_range(size):
    photo = _photo()
    resized = np.asarray(Image.fromarray(photo).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    expected = resized.transpose(2, 0, 1)[None] / np.float32(127.5) - np.float32(1)
    got = source_tensor(photo, size)
    assert got.dtype == torch.float32 and got.shape == (1, 3, size, size)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-7)


def test_source_of_a_pil_image_equals_that_of_its_array_and_grey_becomes_rgb():
    photo = _photo(seed=1)
    torch.testing.assert_close(source_tensor(Image.fromarray(photo), 64), source_tensor(photo, 64), rtol=0, atol=0)
    grey = Image.fromarray(photo[..., 0])
    assert grey.mode == "L"
    rgb = source_tensor(grey, 64)
    torch.testing.assert_close(rgb[:, 0], rgb[:, 2], rtol=0, atol=0)


def test_source_levels_map_0_to_minus_1_and_255_to_1_and_64_px_is_unchanged():
    photo = _photo(64, 64, seed=2)
    photo[0, 0], photo[0, 1] = 0, 255
    got = source_tensor(photo, 64)
    assert got[0, :, 0, 0].tolist() == [-1.0] * 3 and got[0, :, 0, 1].tolist() == [1.0] * 3
    np.testing.assert_allclose(got[0].permute(1, 2, 0).numpy(), photo / 127.5 - 1, rtol=0, atol=1e-6)


def test_source_tensors_are_both_resized_from_the_original():
    photo = _photo(seed=3)
    small, large = source_tensors(photo)
    torch.testing.assert_close(small, source_tensor(photo, 64), rtol=0, atol=0)
    torch.testing.assert_close(large, source_tensor(photo, 256), rtol=0, atol=0)


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4))])
def test_source_array_of_another_dtype_or_shape_is_refused(bad):
    with pytest.raises(InpaintError, match=r"uint8 array of shape \(height, width, 3\)") as info:
        source_tensor(bad, 64)
    assert str(bad.shape) in str(info.value)


# ---------------------------------------------------------------- masks


def _half_mask(size: int = 64) -> np.ndarray:
    mask = np.ones((size, size), dtype=bool)
    mask[:, 20:] = False  # the notebook's example: keep the left 20 columns
    return mask


def test_boolean_mask_becomes_a_float_batch_of_one():
    mask = keep_mask(_half_mask())
    assert mask.dtype == torch.float32 and mask.shape == (1, 1, 64, 64)
    np.testing.assert_array_equal(mask[0, 0].numpy(), _half_mask().astype(np.float32))


def test_mask_is_upsampled_to_256_by_nearest():
    rng = np.random.default_rng(4)
    mask = rng.random((2, 1, 64, 64)) > 0.5
    expected = mask.repeat(4, axis=2).repeat(4, axis=3).astype(np.float32)
    got = upsampled_mask(keep_mask(mask))
    assert got.shape == (2, 1, 256, 256)
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize(
    ("mask", "named"),
    [
        (np.full((64, 64), 0.5), "value 0.5"),
        (np.ones((32, 32), bool), "(32, 32)"),
        (np.ones((1, 3, 64, 64), bool), "(1, 3, 64, 64)"),
        (np.ones((64, 64), bool), "keeps every pixel"),
        (np.zeros((64, 64), bool), "keeps no pixel"),
    ],
    ids=["not-binary", "wrong-size", "wrong-channels", "keeps-all", "keeps-none"],
)
def test_unusable_mask_is_refused_in_one_line(mask, named):
    with pytest.raises(InpaintError) as info:
        keep_mask(mask)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_rectangle_repaints_its_rounded_pixel_box():
    rect = {"left": 0.25, "top": 0.1, "right": 0.8, "bottom": 1.0}
    expected = np.ones((64, 64), dtype=np.float32)
    expected[round(0.1 * 64) : 64, 16 : round(0.8 * 64)] = 0  # rows 6..63, columns 16..50
    got = rectangle_mask(rect)
    assert got.shape == (1, 1, 64, 64)
    np.testing.assert_array_equal(got[0, 0].numpy(), expected)
    assert int((got == 0).sum()) == (64 - 6) * (51 - 16)


@pytest.mark.parametrize(
    ("rect", "named"),
    [
        ({"left": 0.1, "top": 0.1, "right": 0.5}, "give exactly left, top, right, bottom"),
        ({"left": 0.1, "top": 0.1, "right": 1.5, "bottom": 0.5}, "right=1.5"),
        ({"left": "a", "top": 0.1, "right": 0.5, "bottom": 0.5}, "left='a'"),
        ({"left": 0.5, "top": 0.1, "right": 0.5, "bottom": 0.5}, "covers no pixel"),
        ({"left": 0.6, "top": 0.1, "right": 0.4, "bottom": 0.5}, "left < right"),
        ({"left": 0.0, "top": 0.0, "right": 1.0, "bottom": 1.0}, "keeps no pixel"),
    ],
)
def test_unusable_rectangle_is_refused_in_one_line(rect, named):
    with pytest.raises(InpaintError) as info:
        rectangle_mask(rect)
    assert named in str(info.value) and "\n" not in str(info.value)
