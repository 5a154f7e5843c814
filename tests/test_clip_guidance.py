"""CLIP guidance in the harness: the pipeline runs the official recipe (prompt-only base, noised-CLIP mean
shift), the config refuses loops without a mean shift, and the guide's weights enter the model id.
"""

from __future__ import annotations

import pytest
import torch

from harness.config.schema import SamplerConfig
from harness.errors import ConfigError
from harness.glide.diffusion import Schedule
from harness.glide.first_order import noise_from_generators, randn_from_generators, sample_ancestral
from harness.glide.guidance import GUIDANCE, Guidance, classifier_free, get_guidance
from harness.glide.models import ModelSpec, guided_model_id, load_pipeline, model_id
from harness.glide.noised_clip import ImageEncoder, TextEncoder, normalize, tokenize
from harness.glide.pipeline import GlidePipeline, stage_generators, to_uint8
from harness.glide.presets import clip_preset

TINY = ModelSpec(name="tiny", base="tiny_base", upsample="tiny_upsample", weights="random", seed=0,
                 clip="tiny_noised_clip")  # fmt: skip
PROMPTS = ["a corgi in a field", "a red cube"]
SEEDS = [0, 1]
STEPS = "4"


@pytest.fixture(scope="module")
def pipeline() -> GlidePipeline:
    return load_pipeline(TINY, guide=True)


def test_clip_guided_base_is_the_prompt_only_base_shifted_by_the_noised_clip_gradient(pipeline):
    scale = 60.0
    got = pipeline.sample_base(PROMPTS, SEEDS, guidance="clip", guidance_scale=scale, steps=STEPS)
    # The official clip_guided notebook, composed by hand: one text row per sample (no empty-prompt half) and
    # cond_fn = scale * grad_x of 100 * z_text . z_image(x_t, t), from the released tokenizer's tokens.
    base = pipeline.base
    tokens, mask = base.tokenizer.batch(PROMPTS)
    text = base.model.encode_text(tokens, mask)
    clip_tokens, lens = tokenize(PROMPTS)
    z_text = normalize(pipeline.guide.text_encoder(clip_tokens, lens))
    encoder = pipeline.guide.image_encoder

    def cond_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            z_image = encoder(x, t)
            z_image = z_image / (z_image.norm(dim=-1, keepdim=True) + 1e-12)
            (grad,) = torch.autograd.grad(100.0 * (z_text * z_image).sum(), x)
        return scale * grad

    generators = stage_generators("base", SEEDS)
    x_T = randn_from_generators(generators, (3, 64, 64))
    sched = Schedule.create("squaredcos_cap_v2", 1000, STEPS)
    expected = sample_ancestral(
        lambda x, t: base.model(x, t, text), x_T, sched, noise_from_generators(generators), cond_fn=cond_fn
    )
    difference = (got.int() - to_uint8(expected).int()).abs()
    assert int(difference.max()) <= 1  # per-sample forwards vs one batch: last-bit differences may round apart


def test_clip_guidance_changes_the_image_and_scale_zero_is_the_unguided_conditional_sample(pipeline):
    unguided = pipeline.sample_base(PROMPTS, SEEDS, guidance="clip", guidance_scale=0.0, steps=STEPS)
    guided = pipeline.sample_base(PROMPTS, SEEDS, guidance="clip", guidance_scale=5000.0, steps=STEPS)
    # Classifier-free guidance at scale 1 is the conditional output: the same sample as no mean shift at all.
    conditional = pipeline.sample_base(PROMPTS, SEEDS, guidance="classifier_free", guidance_scale=1.0, steps=STEPS)
    assert int((unguided.int() - conditional.int()).abs().max()) <= 1
    assert (guided != unguided).any()


def test_gradient_guidance_without_the_noised_clip_loaded_is_refused():
    plain = load_pipeline(TINY)
    with pytest.raises(ValueError, match="noised CLIP"):
        plain.sample_base(PROMPTS[:1], SEEDS[:1], guidance="clip", guidance_scale=3.0, steps=STEPS)


def test_the_tiny_noised_clip_is_drawn_from_the_model_seed_plus_two():
    guide = load_pipeline(TINY, guide=True).guide
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY.seed + 2)
        text_encoder, image_encoder = (
            TextEncoder(clip_preset("tiny_noised_clip")),
            ImageEncoder(clip_preset("tiny_noised_clip")),
        )
    for ours, theirs in ((guide.text_encoder, text_encoder), (guide.image_encoder, image_encoder)):
        for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items(), strict=True):
            assert torch.equal(a, b), name


def test_a_guidance_is_a_combine_or_a_gradient_never_both():
    assert not GUIDANCE["classifier_free"].needs_guide and GUIDANCE["clip"].needs_guide
    with pytest.raises(ValueError):
        Guidance(combine=classifier_free, gradient=GUIDANCE["clip"].gradient)
    with pytest.raises(ValueError):
        Guidance()
    with pytest.raises(Exception, match="nope.*classifier_free, clip"):
        get_guidance("nope")


@pytest.mark.parametrize("loop", ["ddim", "dpmpp_2m", "unipc"])
def test_clip_guidance_with_a_loop_without_a_mean_shift_is_refused_at_config_time(loop):
    steps = "20" if loop != "ddim" else "100"
    with pytest.raises(ConfigError, match=f"sampler.guidance=clip.*'{loop}'.*base_loop=ancestral"):
        SamplerConfig(guidance="clip", base_loop=loop, base_steps=steps, device="cpu")


def test_the_guides_preset_and_seed_enter_the_model_id_only_under_a_gradient_guidance():
    assert guided_model_id(TINY, False) == model_id(TINY)
    guided = guided_model_id(TINY, True)
    assert guided.startswith(model_id(TINY) + "+tiny_noised_clip:") and guided.endswith("random-seed2")


def test_a_clip_guided_sample_in_a_batch_equals_the_sample_alone_bit_for_bit(pipeline):
    batch = pipeline.sample_base(PROMPTS, SEEDS, guidance="clip", guidance_scale=60.0, steps=STEPS)
    for i, (prompt, seed) in enumerate(zip(PROMPTS, SEEDS, strict=True)):
        alone = pipeline.sample_base([prompt], [seed], guidance="clip", guidance_scale=60.0, steps=STEPS)
        assert torch.equal(batch[i], alone[0])
