"""Specification of the noised CLIP: the released layouts, the official numerics, its tokenizer and its guidance.

Outputs, block activations, the guidance gradient and a whole CLIP-guided loop are matched against records of the
official implementation (tiny random weights); the gradient is also checked against finite differences.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from harness.glide.checkpoints import CheckpointError
from harness.glide.diffusion import Schedule
from harness.glide.first_order import noise_from_list, sample_ancestral
from harness.glide.noised_clip import ImageEncoder, TextEncoder, clip_guidance_grad, load_encoders, normalize, tokenize
from harness.glide.presets import NOISED_CLIP, TINY_NOISED_CLIP, NoisedClipConfig, clip_preset

FORWARD_TOLERANCE = 1e-5
GRAD_RELATIVE_TOLERANCE = 1e-4
LOOP_TOLERANCE = 1e-4
PARAMETERS = {"text_enc": 71_679_488, "image_enc": 86_443_776}


def _max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    return float((actual.double() - expected.double()).abs().max())


# ---------------------------------------------------------------- the released layout


@pytest.fixture(scope="module", params=["text_enc", "image_enc"])
def released(request, reference_dir: Path):
    with torch.device("meta"):
        encoder = (TextEncoder if request.param == "text_enc" else ImageEncoder)(NOISED_CLIP)
    manifest = json.loads((reference_dir / f"manifest_clip_{request.param}.json").read_text())
    return request.param, encoder, manifest


def test_released_encoder_has_the_checkpoint_keys_in_order_with_their_shapes(released):
    _, encoder, manifest = released
    expected = [(key, tuple(shape)) for key, shape, _ in manifest["state_dict"]]
    assert [(key, tuple(value.shape)) for key, value in encoder.state_dict().items()] == expected


def test_released_encoder_has_the_official_parameter_count(released):
    name, encoder, manifest = released
    assert sum(p.numel() for p in encoder.parameters()) == manifest["n_params"] == PARAMETERS[name]


def test_full_size_preset_equals_the_official_config(released):
    _, _, manifest = released
    assert {key: getattr(NOISED_CLIP, key) for key in manifest["config"]} == manifest["config"]


# ---------------------------------------------------------------- reference forward parity


@pytest.fixture(scope="module")
def recorded(reference_dir: Path, reference_clip):
    _, text_encoder, image_encoder = reference_clip
    reference = load_file(reference_dir / "tiny_clip_a" / "forward.safetensors")
    acts: dict[str, torch.Tensor] = {}
    hooks = [
        module.register_forward_hook(lambda _m, _i, out, name=f"{side}.blocks.{key}": acts.__setitem__(name, out))
        for side, encoder in (("text", text_encoder), ("image", image_encoder))
        for key, module in encoder.blocks.items()
    ]
    try:
        with torch.no_grad():
            text = text_encoder(reference["in.tokens"], reference["in.lens"])
            image = image_encoder(reference["in.image"], reference["in.timesteps"])
    finally:
        for hook in hooks:
            hook.remove()
    return reference, text, image, acts


def test_reference_inputs_cover_the_edge_cases(recorded):
    reference = recorded[0]
    # A prompt filling the context, short ones; the first and last timesteps.
    assert reference["in.lens"].max() == reference["in.tokens"].shape[1]
    assert {0, 999} <= set(reference["in.timesteps"].tolist())


def test_raw_embeddings_match_reference(recorded):
    reference, text, image, _ = recorded
    assert _max_error(text, reference["text.out"]) <= FORWARD_TOLERANCE
    assert _max_error(image, reference["image.out"]) <= FORWARD_TOLERANCE


def test_normalised_embeddings_match_reference(recorded):
    reference, text, image, _ = recorded
    assert _max_error(normalize(text), reference["text.emb"]) <= FORWARD_TOLERANCE
    assert _max_error(normalize(image), reference["image.emb"]) <= FORWARD_TOLERANCE


def test_every_block_activation_matches_reference(recorded):
    reference, _, _, acts = recorded
    names = [key.removeprefix("act.") for key in reference if key.startswith("act.")]
    assert len(names) == 8 and set(names) == set(acts)
    errors = {name: _max_error(acts[name], reference[f"act.{name}"]) for name in names}
    assert {name: err for name, err in errors.items() if err > FORWARD_TOLERANCE} == {}


def test_normalize_divides_by_the_norm_plus_1e_12():
    z = np.array([[3.0, 4.0], [0.0, 0.0], [1e-13, 0.0]])
    expected = z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-12)
    np.testing.assert_allclose(normalize(torch.from_numpy(z)).numpy(), expected, rtol=1e-15, atol=0)


def test_text_embedding_reads_the_last_real_token_and_ignores_later_ones(reference_clip):
    # Causal attention: tokens after position len - 1 cannot change the output.
    _, text_encoder, _ = reference_clip
    tokens = torch.tensor([[5, 6, 7, 0, 0, 0], [5, 6, 7, 9, 9, 9]])
    with torch.no_grad():
        out = text_encoder(tokens, torch.tensor([3, 3]))
        longer = text_encoder(tokens, torch.tensor([3, 4]))
    torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)
    assert _max_error(longer[1], out[1]) > 1e-3


# ---------------------------------------------------------------- guidance gradient


def test_guidance_gradient_matches_reference(recorded, reference_clip):
    reference, text, *_ = recorded
    _, _, image_encoder = reference_clip
    grad = clip_guidance_grad(image_encoder, normalize(text), reference["in.image"], reference["in.timesteps"], 3.0)
    expected = reference["cond_fn.grad_scale3"]
    relative = float((grad - expected).abs().max() / expected.abs().max())
    assert relative <= GRAD_RELATIVE_TOLERANCE


def test_guidance_gradient_is_the_derivative_of_the_scaled_similarity(reference_clip):
    # Central finite differences in float64 of scale * logit_scale * z_text . z_image(x, t) at a few pixels.
    cfg, _, image_encoder = reference_clip
    encoder = copy.deepcopy(image_encoder).double()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, cfg.image_size, cfg.image_size, generator=generator, dtype=torch.float64) * 2 - 1
    z_text = normalize(torch.randn(1, cfg.n_embd, generator=generator, dtype=torch.float64))
    t = torch.tensor([321])
    scale, h = 2.5, 1e-6
    grad = clip_guidance_grad(encoder, z_text, x, t, scale)

    def objective(image: torch.Tensor) -> float:
        with torch.no_grad():
            return scale * 100.0 * float((z_text * normalize(encoder(image, t))).sum())

    for c, i, j in [(0, 0, 0), (1, 7, 19), (2, 31, 31), (0, 16, 3)]:
        step = torch.zeros_like(x)
        step[0, c, i, j] = h
        numeric = (objective(x + step) - objective(x - step)) / (2 * h)
        assert math.isclose(float(grad[0, c, i, j]), numeric, rel_tol=1e-5, abs_tol=1e-8)


def test_clip_guided_ancestral_loop_matches_reference(reference_dir, reference_clip, reference_clip_base):
    case = reference_dir / "tiny_clip_a"
    meta = json.loads((case / "sample_ddpm_clip.json").read_text())
    record = load_file(case / "sample_ddpm_clip.safetensors")
    _, text_encoder, image_encoder = reference_clip
    base = reference_clip_base
    z_text = normalize(text_encoder(record["clip_tokens"], record["clip_lens"]))
    text = base.encode_text(record["tokens"], record["mask"])
    sched = Schedule.create(meta["noise_schedule"], meta["diffusion_steps"], meta["timestep_respacing"])
    noise = list(record["noise"])
    assert len(noise) == 1 + sched.num_steps and noise[0].shape[0] == meta["batch_size"]  # batch not doubled

    def cond_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return clip_guidance_grad(image_encoder, z_text, x, t, meta["guidance_scale"])

    sample = sample_ancestral(
        lambda x, t: base(x, t, text),
        noise[0],
        sched,
        noise_from_list(noise[1:]),
        meta["clip_denoised"],
        cond_fn=cond_fn,
    )
    assert _max_error(sample, record["sample"]) <= LOOP_TOLERANCE


# ---------------------------------------------------------------- tokenizer


@pytest.fixture(scope="module")
def tokenizer_record(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "clip_tokenizer.json").read_text())


def test_tokens_and_lengths_equal_the_official_tokenizer_on_every_row(tokenizer_record):
    rows = tokenizer_record["rows"]
    tokens, lens = tokenize([row["text"] for row in rows], tokenizer_record["text_ctx"])
    assert tokens.dtype == lens.dtype == torch.long
    mismatched = [
        row["text"]
        for row, got, n in zip(rows, tokens.tolist(), lens.tolist(), strict=True)
        if got != row["tokens"] or n != row["len"]
    ]
    assert mismatched == []


def test_tokenizer_record_covers_cleaning_and_the_empty_prompt(tokenizer_record):
    # Its longest row has 65 tokens: truncation is specified by the next test alone.
    by_text = {row["text"]: row for row in tokenizer_record["rows"]}
    assert by_text[""]["tokens"][:3] == [tokenizer_record["start_token"], tokenizer_record["end_token"], 0]
    assert "&amp; html &lt;tags&gt;" in by_text and "tab\tand\nnewline" in by_text


def test_long_prompt_keeps_75_tokens_between_start_and_end():
    tokens, lens = tokenize(["cat " * 100])
    assert lens.tolist() == [77]
    assert tokens[0, 0] == 49406 and tokens[0, -1] == 49407
    assert len(set(tokens[0, 1:-1].tolist())) == 1  # "cat" 75 times


def test_tokens_fit_the_encoder_of_the_released_config():
    tokens, lens = tokenize(["a corgi", "an oil painting of a corgi"])
    assert tokens.shape == (2, NOISED_CLIP.max_text_len)
    assert int(tokens.max()) < NOISED_CLIP.n_vocab and lens.tolist() == [4, 8]


# ---------------------------------------------------------------- loading and configuration


def _tiny_checkpoints(reference_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    case = reference_dir / "tiny_clip_a"
    text_path, image_path = tmp_path / "clip_text_enc.pt", tmp_path / "clip_image_enc.pt"
    torch.save(load_file(case / "text_enc.safetensors"), text_path)
    torch.save(load_file(case / "image_enc.safetensors"), image_path)
    return text_path, image_path


def test_encoders_load_from_torch_files_and_reproduce_the_reference(reference_dir, reference_clip, tmp_path):
    cfg = reference_clip[0]
    text_encoder, image_encoder = load_encoders(*_tiny_checkpoints(reference_dir, tmp_path), cfg)
    reference = load_file(reference_dir / "tiny_clip_a" / "forward.safetensors")
    assert not any(p.requires_grad for p in [*text_encoder.parameters(), *image_encoder.parameters()])
    with torch.no_grad():
        assert _max_error(text_encoder(reference["in.tokens"], reference["in.lens"]), reference["text.out"]) <= 1e-5
        image = image_encoder(reference["in.image"], reference["in.timesteps"])
    assert _max_error(image, reference["image.out"]) <= FORWARD_TOLERANCE


def test_swapped_encoder_files_are_refused_naming_a_key(reference_dir, reference_clip, tmp_path):
    text_path, image_path = _tiny_checkpoints(reference_dir, tmp_path)
    with pytest.raises(CheckpointError) as info:
        load_encoders(image_path, text_path, reference_clip[0])
    message = str(info.value)
    assert "\n" not in message and "blocks.input." in message and str(image_path) in message


def test_safetensors_files_load_too(reference_dir, reference_clip):
    case = reference_dir / "tiny_clip_a"
    encoders = load_encoders(case / "text_enc.safetensors", case / "image_enc.safetensors", reference_clip[0])
    for encoder, name in zip(encoders, ("text_enc", "image_enc"), strict=True):
        expected = load_file(case / f"{name}.safetensors")
        assert encoder.state_dict().keys() == expected.keys()
        assert all(torch.equal(encoder.state_dict()[key], value) for key, value in expected.items())


def test_image_of_another_size_is_refused(reference_clip):
    cfg, _, image_encoder = reference_clip
    with pytest.raises(ValueError, match=rf"\(1, 3, 16, 16\).*\(batch, 3, {cfg.image_size}, {cfg.image_size}\)"):
        image_encoder(torch.zeros(1, 3, 16, 16), torch.tensor([0]))


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"patch_size": 5}, "clip.patch_size 5"),
        ({"n_embd": 0}, "clip.n_embd"),
        ({"logit_scale": -1.0}, "clip.logit_scale"),
        ({"beta_schedule": "cosine"}, "'cosine'"),
    ],
)
def test_bad_config_values_are_named_in_one_line(overrides, named):
    with pytest.raises(ValueError) as info:
        NoisedClipConfig(**overrides)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_tiny_preset_takes_real_tokens_and_64_px_images():
    torch.manual_seed(0)
    text_encoder, image_encoder = TextEncoder(TINY_NOISED_CLIP), ImageEncoder(TINY_NOISED_CLIP)
    tokens, lens = tokenize(["a religious building", "pixel art of a corgi"])
    with torch.no_grad():
        z_text = normalize(text_encoder(tokens, lens))
    x = torch.zeros(2, 3, 64, 64)
    grad = clip_guidance_grad(image_encoder, z_text, x, torch.tensor([999, 0]), 3.0)
    assert z_text.shape == (2, 32) and grad.shape == x.shape and bool(grad.abs().sum() > 0)
    torch.testing.assert_close(z_text.norm(dim=-1), torch.ones(2))


def test_unknown_clip_preset_lists_the_allowed_names():
    assert clip_preset("noised_clip") is NOISED_CLIP
    with pytest.raises(ValueError, match="'clip'.*noised_clip, tiny_noised_clip"):
        clip_preset("clip")
