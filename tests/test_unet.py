"""Specification of the GLIDE UNet and text encoder: the released state-dict layout and the official numerics.

Forward outputs, every top-level block's activation and the text encoder outputs of the two tiny reference
models (recorded by the official implementation) are matched in float32 on the CPU.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from harness.glide.presets import preset
from harness.glide.unet import GlideUNet, GroupNorm32, TextEmbedding, timestep_embedding

FORWARD_TOLERANCE = 1e-5
CASES = ["tiny_base_a", "tiny_up_a"]
PARAMETERS = {
    "base": 385_030_726,
    "upsample": 398_361_286,
    "base_inpaint": 385_037_638,
    "upsample_inpaint": 398_368_198,
}
# [x_t] for the base, [x_t, upsampled low_res] for the upsampler; inpainting adds [image * mask, mask].
INPUT_CHANNELS = {"base": 3, "upsample": 6, "base_inpaint": 7, "upsample_inpaint": 10}


def _max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    return float((actual.double() - expected.double()).abs().max())


# ---------------------------------------------------------------- the released layout


@pytest.fixture(scope="module", params=list(PARAMETERS))
def released(request, reference_dir: Path) -> tuple[str, GlideUNet, dict]:
    # On the meta device the full-size models cost no memory and no initialisation time.
    with torch.device("meta"):
        model = GlideUNet(preset(request.param))
    manifest = json.loads((reference_dir / f"manifest_{request.param}.json").read_text())
    return request.param, model, manifest


def test_released_model_has_the_checkpoint_keys_in_order_with_their_shapes(released):
    _, model, manifest = released
    expected = [(key, tuple(shape)) for key, shape, _ in manifest["state_dict"]]
    assert [(key, tuple(value.shape)) for key, value in model.state_dict().items()] == expected
    assert model.expected_shapes() == dict(expected)


def test_released_model_has_the_official_parameter_count(released):
    name, model, manifest = released
    assert sum(p.numel() for p in model.parameters()) == manifest["n_params"] == PARAMETERS[name]


def test_released_model_takes_its_input_channels(released):
    name, model, _ = released
    assert model.input_blocks[0][0].in_channels == INPUT_CHANNELS[name]


def test_released_model_is_float32_like_the_checkpoints(released):
    _, model, manifest = released
    assert {dtype for *_, dtype in manifest["state_dict"]} == {"float32"}
    assert {value.dtype for value in model.state_dict().values()} == {torch.float32}


# ---------------------------------------------------------------- reference forward parity


def _forward(model: GlideUNet, inputs: dict[str, torch.Tensor], names: list[str]):
    """Run the model on the reference inputs, recording each named module's output."""
    acts: dict[str, torch.Tensor] = {}
    hooks = [
        model.get_submodule(name).register_forward_hook(lambda _m, _i, out, name=name: acts.__setitem__(name, out))
        for name in names
    ]
    try:
        with torch.no_grad():
            text = model.encode_text(inputs["in.tokens"], inputs["in.mask"])
            out = model(inputs["in.x"], inputs["in.timesteps"], text, inputs.get("in.low_res"))
    finally:
        for hook in hooks:
            hook.remove()
    return out, text, acts


@pytest.fixture(scope="module", params=CASES)
def recorded(request, reference_dir: Path, reference_model):
    reference = load_file(reference_dir / request.param / "forward.safetensors")
    names = [key.removeprefix("act.") for key in reference if key.startswith("act.")]
    model = reference_model(request.param)
    out, text, acts = _forward(model, reference, names)
    return reference, out, text, acts, model.cfg


def test_reference_inputs_cover_the_edge_cases(recorded):
    reference = recorded[0]
    text_ctx = reference["in.mask"].shape[1]
    # The unconditional row, a short prompt, a prompt filling the context; the first and last timesteps.
    assert set(reference["in.mask"].sum(dim=1).tolist()) >= {0, text_ctx}
    assert {0, 999} <= set(reference["in.timesteps"].tolist())


def test_forward_output_matches_reference(recorded):
    reference, out, *_ = recorded
    assert out.dtype == torch.float32
    assert _max_error(out, reference["out"]) <= FORWARD_TOLERANCE


def test_every_block_activation_matches_reference(recorded):
    reference, _, _, acts, _ = recorded
    names = [key.removeprefix("act.") for key in reference if key.startswith("act.")]
    assert len(names) >= 10
    errors = {name: _max_error(acts[name], reference[f"act.{name}"]) for name in names}
    assert {name: err for name, err in errors.items() if err > FORWARD_TOLERANCE} == {}


def test_text_encoder_outputs_match_reference_in_their_layouts(recorded):
    reference, _, text, _, cfg = recorded
    # proj (batch, 4 * num_channels) joins the timestep embedding; seq (batch, width, ctx) feeds attention.
    batch = reference["in.tokens"].shape[0]
    assert text.proj.shape == (batch, 4 * cfg.num_channels)
    assert text.seq.shape == (batch, cfg.xf_width, cfg.text_ctx)
    assert _max_error(text.proj, reference["text.xf_proj"]) <= FORWARD_TOLERANCE
    assert _max_error(text.seq, reference["text.xf_out"]) <= FORWARD_TOLERANCE


def test_super_resolution_model_needs_low_res(reference_dir, reference_model):
    model = reference_model("tiny_up_a")
    reference = load_file(reference_dir / "tiny_up_a" / "forward.safetensors")
    text = TextEmbedding(reference["text.xf_proj"], reference["text.xf_out"])
    with pytest.raises(ValueError, match="low_res"):
        model(reference["in.x"], reference["in.timesteps"], text)


def test_timestep_embedding_is_cos_then_sin_of_geometric_frequencies():
    t = torch.tensor([0, 1, 437, 999])
    dim = 10
    half = dim // 2
    freqs = np.exp(-math.log(10000) * np.arange(half) / half)
    args = t.numpy()[:, None].astype(np.float64) * freqs[None]
    expected = np.concatenate([np.cos(args), np.sin(args)], axis=1)
    assert np.abs(timestep_embedding(t, dim).numpy() - expected).max() <= 1e-4


# ---------------------------------------------------------------- reduced precision


def _group_norm_float64(x: torch.Tensor, norm: GroupNorm32) -> torch.Tensor:
    """GroupNorm (+ SiLU where fused) in float64 NumPy: the exact value a float32 norm approximates."""
    values = x.double().numpy()
    grouped = values.reshape(values.shape[0], norm.num_groups, -1)
    mean = grouped.mean(axis=2, keepdims=True)
    var = grouped.var(axis=2, keepdims=True)
    normed = ((grouped - mean) / np.sqrt(var + norm.eps)).reshape(values.shape)
    shape = (1, -1) + (1,) * (values.ndim - 2)
    h = normed * norm.weight.double().numpy().reshape(shape) + norm.bias.double().numpy().reshape(shape)
    if norm.silu:
        h = h / (1 + np.exp(-h))
    return torch.from_numpy(h)


@pytest.mark.parametrize("case", CASES)
def test_bf16_autocast_stays_close_to_float32_with_norms_in_float32(case, reference_dir, reference_model):
    model = reference_model(case)
    reference = load_file(reference_dir / case / "forward.safetensors")
    norms: list[tuple[GroupNorm32, torch.Tensor, torch.Tensor]] = []
    hooks = [
        module.register_forward_hook(lambda m, args, out: norms.append((m, args[0], out)))
        for module in model.modules()
        if isinstance(module, GroupNorm32)
    ]
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            text = model.encode_text(reference["in.tokens"], reference["in.mask"])
            out = model(reference["in.x"], reference["in.timesteps"], text, reference.get("in.low_res"))
    finally:
        for hook in hooks:
            hook.remove()

    assert out.dtype == torch.float32
    # bfloat16 keeps 8 significant bits; through a dozen blocks the outputs (of order 1) move by about 1e-2.
    assert _max_error(out, reference["out"]) <= 5e-2
    assert float((out - reference["out"]).abs().mean()) <= 5e-3

    reduced = [(m, x, y) for m, x, y in norms if x.dtype == torch.bfloat16]
    assert len(reduced) >= len(norms) - 1 > 0  # every norm inside the torso sees bfloat16 activations
    for module, x, y in reduced:
        assert y.dtype == torch.bfloat16
        # Normalised in float32, then rounded once to bfloat16: within half a bfloat16 step of the exact value.
        exact = _group_norm_float64(x, module)
        assert ((y.double() - exact).abs() <= exact.abs() * 2.0**-8 + 1e-5).all()
