"""Specification of whole sampling loops and of the two-stage pipeline.

The guided ancestral loop and the upsampler's DDIM loop replay the official implementation's recorded noise;
the pipeline's per-sample seeding is checked on the random-weight tiny models.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from harness.glide.diffusion import Schedule
from harness.glide.first_order import noise_from_list, sample_ancestral, sample_ddim
from harness.glide.guidance import classifier_free
from harness.glide.models import ModelSpec, load_pipeline, model_id, random_model
from harness.glide.pipeline import GlidePipeline, batched, from_uint8, guided_rows, stage_generators, to_uint8

LOOP_TOLERANCE = 1e-4


def _max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    return float((actual.double() - expected.double()).abs().max())


# ---------------------------------------------------------------- recorded loops


@pytest.fixture(scope="module")
def ddpm_record(reference_dir: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    case = reference_dir / "tiny_base_a"
    return json.loads((case / "sample_ddpm_cfg.json").read_text()), load_file(case / "sample_ddpm_cfg.safetensors")


@pytest.fixture(scope="module")
def ddim_record(reference_dir: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    case = reference_dir / "tiny_up_a"
    return json.loads((case / "sample_ddim.json").read_text()), load_file(case / "sample_ddim.safetensors")


def test_recorded_guided_batch_is_conditional_rows_then_empty_rows(ddpm_record):
    meta, record = ddpm_record
    batch = meta["batch_size"]
    assert record["tokens"].shape[0] == record["mask"].shape[0] == 2 * batch
    assert record["mask"][:batch].any(dim=1).all() and not record["mask"][batch:].any()
    assert record["noise"].shape[:2] == (1 + Schedule.create("squaredcos_cap_v2", 1000, "25").num_steps, 2 * batch)


@pytest.mark.parametrize("per_sample", [True, False], ids=["per-sample", "whole-batch"])
def test_guided_ancestral_loop_matches_reference(ddpm_record, reference_model, per_sample):
    meta, record = ddpm_record
    model = reference_model("tiny_base_a")
    batch = meta["batch_size"]
    cond = model.encode_text(record["tokens"][:batch], record["mask"][:batch])
    empty = model.encode_text(record["tokens"][batch:], record["mask"][batch:])
    # The official loop draws noise for the doubled batch; its conditional half is what our loop consumes.
    noise = [n[:batch] for n in record["noise"]]
    sched = Schedule.create(meta["noise_schedule"], meta["diffusion_steps"], meta["timestep_respacing"])
    model_fn = batched(
        guided_rows(model, cond, empty, classifier_free, meta["guidance_scale"], nullcontext), per_sample
    )
    sample = sample_ancestral(model_fn, noise[0], sched, noise_from_list(noise[1:]), meta["clip_denoised"])
    assert _max_error(sample, record["sample"]) <= LOOP_TOLERANCE


def test_upsampler_ddim_loop_matches_reference(ddim_record, reference_model):
    meta, record = ddim_record
    model = reference_model("tiny_up_a")
    text = model.encode_text(record["tokens"], record["mask"])
    sched = Schedule.create(meta["noise_schedule"], meta["diffusion_steps"], meta["timestep_respacing"])
    assert sched.num_steps == 27

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model(x, t, text, record["low_res"])

    sample = sample_ddim(model_fn, record["x_T"], sched, eta=0.0, clip_denoised=meta["clip_denoised"])
    assert _max_error(sample, record["sample"]) <= LOOP_TOLERANCE


def test_recorded_low_res_is_a_fixed_point_of_the_8_bit_round_trip(ddim_record):
    low_res = ddim_record[1]["low_res"]
    levels = (low_res.double() + 1) * 127.5
    assert (levels - levels.round()).abs().max() <= 1e-4
    assert _max_error(from_uint8(to_uint8(low_res)), low_res) <= 1e-6


# ---------------------------------------------------------------- 8-bit images


def test_8_bit_round_trip_rounds_to_the_nearest_of_256_levels_and_clamps():
    edges = torch.tensor(
        [-1.0, 1.0, 0.0, 1 / 255, -1 / 255, 0.3 / 127.5 - 1, 0.7 / 127.5 - 1, -1.5, 1.5, -0.999, 0.999, 0]
    )
    noise = torch.empty(1188).uniform_(-1.2, 1.2, generator=torch.Generator().manual_seed(0))
    x = torch.cat([edges, noise]).reshape(-1, 3, 2, 2)
    # The same float32 arithmetic in NumPy: levels (x + 1) * 127.5 rounded, clamped to 0..255.
    levels = np.clip(np.round((x.numpy() + np.float32(1)) * np.float32(127.5)), 0, 255)
    images = to_uint8(x)
    assert images.dtype == torch.uint8 and images.shape == (100, 2, 2, 3)
    assert torch.equal(images.permute(0, 3, 1, 2), torch.from_numpy(levels.astype(np.uint8)))
    expected = torch.from_numpy((levels / 127.5 - 1).astype(np.float32))
    assert _max_error(from_uint8(images), expected) <= 1e-7


# ---------------------------------------------------------------- the tiny pipeline

TINY = ModelSpec(name="tiny", base="tiny_base", upsample="tiny_upsample", weights="random")
PROMPTS = ["a corgi", "a corgi", "a hedgehog using a calculator"]
SEEDS = [11, 12, 13]
BASE_STEPS = "5"
UPSAMPLE_STEPS = "ddim3"
TEMPERATURE = 0.997


class _FirstCall(Exception):
    """Raised by a hook to stop a loop once the model's first inputs are recorded."""


def _first_model_inputs(model: torch.nn.Module, run) -> tuple:
    """The positional arguments of the model's first forward while `run()` samples; the loop stops there."""
    seen = []

    def hook(_module, args):
        seen.append(args)
        raise _FirstCall

    handle = model.register_forward_pre_hook(hook)
    try:
        with pytest.raises(_FirstCall):
            run()
    finally:
        handle.remove()
    return seen[0]


@pytest.fixture(scope="module")
def pipeline() -> GlidePipeline:
    return load_pipeline(TINY)


def _sample(pipeline: GlidePipeline, prompts: list[str], seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    base = pipeline.sample_base(prompts, seeds, guidance_scale=3.0, steps=BASE_STEPS)
    up = pipeline.upsample(prompts, base, seeds, steps=UPSAMPLE_STEPS, temperature=TEMPERATURE)
    return base, up


@pytest.fixture(scope="module")
def batch_run(pipeline) -> tuple[torch.Tensor, torch.Tensor]:
    return _sample(pipeline, PROMPTS, SEEDS)


@pytest.fixture(scope="module")
def single_runs(pipeline) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [_sample(pipeline, [prompt], [seed]) for prompt, seed in zip(PROMPTS, SEEDS, strict=True)]


def test_pipeline_returns_uint8_images_at_both_sizes(batch_run):
    base, up = batch_run
    assert base.dtype == up.dtype == torch.uint8
    assert base.shape == (3, 64, 64, 3) and up.shape == (3, 256, 256, 3)


@pytest.mark.parametrize("stage", [0, 1], ids=["base", "upsample"])
def test_sample_in_a_batch_equals_the_sample_alone_bit_for_bit(batch_run, single_runs, stage):
    for i, alone in enumerate(single_runs):
        assert torch.equal(batch_run[stage][i : i + 1], alone[stage]), f"sample {i}"


@pytest.mark.parametrize("stage", [0, 1], ids=["base", "upsample"])
def test_different_seed_gives_a_different_image(batch_run, stage):
    # Rows 0 and 1 share the prompt and differ only in the seed.
    images = batch_run[stage].float()
    assert (images[0] - images[1]).abs().mean() > 10


def test_same_seed_twice_gives_identical_images(pipeline, single_runs):
    again = _sample(pipeline, PROMPTS[:1], SEEDS[:1])
    assert torch.equal(again[0], single_runs[0][0]) and torch.equal(again[1], single_runs[0][1])


def test_base_x_T_is_the_first_draw_of_the_samples_base_generator(pipeline):
    args = _first_model_inputs(
        pipeline.base.model, lambda: pipeline.sample_base(["a corgi"], [7], guidance_scale=3.0, steps=BASE_STEPS)
    )
    (generator,) = stage_generators("base", [7])
    expected = torch.randn((3, 64, 64), generator=generator)
    # Classifier-free guidance runs the sample twice: with its prompt, then with the empty prompt.
    assert torch.equal(args[0], torch.stack([expected, expected]))


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_upsampler_starts_from_temperature_times_its_own_generators_draw(pipeline, temperature):
    images = torch.randint(0, 256, (1, 64, 64, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    args = _first_model_inputs(
        pipeline.upsampler.model,
        lambda: pipeline.upsample(["a corgi"], images, [7], steps=UPSAMPLE_STEPS, temperature=temperature),
    )
    (generator,) = stage_generators("upsample", [7])
    assert torch.equal(args[0], temperature * torch.randn((1, 3, 256, 256), generator=generator))
    # The upsampler sees the 8-bit image itself, mapped linearly to [-1, 1].
    low_res = images.numpy().transpose(0, 3, 1, 2).astype(np.float32) / np.float32(127.5) - np.float32(1)
    assert torch.equal(args[3], torch.from_numpy(low_res))


def test_stage_generators_give_independent_streams_per_stage_and_seed():
    shape = (3, 64, 64)
    base = torch.randn(shape, generator=stage_generators("base", [5])[0])
    upsample = torch.randn(shape, generator=stage_generators("upsample", [5])[0])
    other_seed = torch.randn(shape, generator=stage_generators("base", [6])[0])
    for other in (upsample, other_seed):
        correlation = np.corrcoef(base.flatten().numpy(), other.flatten().numpy())[0, 1]
        assert abs(correlation) < 0.05  # 12,288 pairs: independent streams give |r| ~ 0.01
    # A sample's stream depends on its own seed only, not on the other seeds of its batch.
    in_batch = stage_generators("base", [4, 6])[1]
    assert torch.equal(torch.randn(shape, generator=in_batch), other_seed)


# ---------------------------------------------------------------- models from a spec


def test_random_model_is_a_function_of_its_seed():
    first = random_model("tiny_base", 3).state_dict()
    again = random_model("tiny_base", 3).state_dict()
    other = random_model("tiny_base", 4).state_dict()
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert all(not torch.equal(first[key], other[key]) for key in first if first[key].std() > 0)


def test_random_model_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    random_model("tiny_base", 0)
    assert torch.equal(torch.rand(4), expected)


def test_random_weights_are_named_in_the_model_id():
    assert TINY.random_weights and "random" in model_id(TINY)
    reseeded = ModelSpec(name="tiny", base="tiny_base", upsample="tiny_upsample", weights="random", seed=1)
    assert model_id(reseeded) != model_id(TINY)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [("base", "huge", "tiny_base"), ("upsample", "nope", "upsample"), ("weights", "pretrained", "official")],
)
def test_bad_model_spec_is_one_line_error_naming_key_and_allowed_values(field, value, allowed):
    with pytest.raises(ValueError) as err:
        ModelSpec(**{field: value})
    message = str(err.value)
    assert "\n" not in message
    assert f"model.{field}" in message and repr(value) in message and allowed in message


def test_unknown_dtype_is_refused_before_building_models():
    with pytest.raises(ValueError, match=r"sampler\.dtype: 'fp8' is not one of fp32, bf16, fp16"):
        load_pipeline(TINY, dtype="fp8")
