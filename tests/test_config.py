"""Specification of the model configuration: the presets and one clear error per bad value.

The released presets are checked against the official defaults recorded in the reference manifests.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace

import pytest

from harness.glide.presets import BASE, PRESETS, TINY_BASE, ModelConfig, preset
from harness.glide.unet import GlideUNet


@pytest.mark.parametrize("name", ["base", "upsample", "base_inpaint", "upsample_inpaint"])
def test_released_presets_equal_the_official_defaults(reference_dir, name):
    manifest = json.loads((reference_dir / f"manifest_{name}.json").read_text())
    cfg = preset(name)
    options = {f.name for f in fields(ModelConfig)}
    assert set(manifest["config"]) <= options
    assert manifest["config"]["inpaint"] is name.endswith("_inpaint")
    assert {key: getattr(cfg, key) for key in manifest["config"]} == manifest["config"]
    assert cfg.n_vocab == manifest["n_vocab"]


def test_empty_channel_mult_takes_the_official_default_of_the_image_size():
    assert preset("base").mult == (1, 2, 3, 4)
    assert preset("upsample").mult == (1, 1, 2, 2, 4, 4)
    assert replace(BASE, image_size=128).mult == (1, 1, 2, 3, 4)


def test_attention_resolutions_become_downsampling_factors():
    assert preset("base").attention_ds == (2, 4, 8)
    assert preset("upsample").attention_ds == (8, 16, 32)
    assert replace(BASE, attention_resolutions="").attention_ds == ()


@pytest.mark.parametrize("name", ["tiny_base", "tiny_upsample"])
def test_tiny_presets_build_at_the_released_image_sizes(name):
    model = GlideUNet(preset(name))
    assert model.cfg.image_size == {"tiny_base": 64, "tiny_upsample": 256}[name]
    assert model.cfg.super_res == (name == "tiny_upsample")


def test_preset_overrides_are_validated_again():
    assert preset("tiny_base", text_ctx=8).text_ctx == 8
    with pytest.raises(ValueError, match="model.text_ctx"):
        preset("tiny_base", text_ctx=0)


def test_unknown_preset_lists_the_allowed_names():
    with pytest.raises(ValueError) as err:
        preset("nope")
    message = str(err.value)
    assert "\n" not in message and "'nope'" in message
    for name in PRESETS:
        assert name in message


# (field, bad value, a fragment the message must hold besides the key: the value or what is allowed)
BAD_VALUES = [
    ("image_size", 0, "got 0"),
    ("image_size", 60, "divisible by 2^3"),
    ("num_head_channels", 0, "got 0"),
    ("num_head_channels", -5, "got -5"),
    ("image_size", -64, "got -64"),
    ("num_channels", 0, "got 0"),
    ("num_res_blocks", 0, "got 0"),
    ("text_ctx", 0, "got 0"),
    ("xf_width", -8, "got -8"),
    ("xf_heads", 0, "got 0"),
    ("xf_layers", -1, "got -1"),
    ("n_vocab", 0, "got 0"),
    ("diffusion_steps", 0, "got 0"),
    ("in_channels", 0, "got 0"),
    ("out_channels", 0, "got 0"),
    ("num_channels", 32.0, "got 32.0"),
    ("xf_width", 65, "xf_heads (2)"),
    ("noise_schedule", "cosine", "'cosine'"),
    ("noise_schedule", "", "squaredcos_cap_v2, linear"),
    ("dropout", 1.0, "got 1.0"),
    ("channel_mult", "1,0,2", "'1,0,2'"),
    ("channel_mult", "1,two", "'1,two'"),
    ("channel_mult", ",", "positive integers"),
    ("attention_resolutions", "16,x", "'16,x'"),
    ("attention_resolutions", "0", "'0'"),
    ("attention_resolutions", "24", "dividing image_size 64"),
    ("attention_resolutions", "128", "'128'"),
    ("norm_groups", 0, "0"),
    ("norm_groups", 5, "5"),
    ("num_head_channels", 24, "24"),
]


@pytest.mark.parametrize(("key", "value", "fragment"), BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_value_is_one_line_error_naming_the_key(key, value, fragment):
    if key == "image_size" and value == 60:
        value_fields = {"image_size": 60, "attention_resolutions": "15"}
    else:
        value_fields = {key: value}
    with pytest.raises(ValueError) as err:
        replace(TINY_BASE, **value_fields)
    message = str(err.value)
    assert "\n" not in message
    assert f"model.{key}" in message
    assert fragment in message


@pytest.mark.parametrize("heads", [0, 3])
def test_num_heads_must_divide_attended_widths_when_head_channels_is_minus_one(heads):
    with pytest.raises(ValueError, match=rf"model\.num_heads \({heads}\)"):
        replace(TINY_BASE, num_head_channels=-1, num_heads=heads)


def test_empty_channel_mult_without_an_official_default_is_refused():
    with pytest.raises(ValueError) as err:
        replace(TINY_BASE, image_size=32, channel_mult="")
    message = str(err.value)
    assert "\n" not in message and "model.channel_mult" in message and "image_size 32" in message


def test_norm_groups_must_divide_every_level_width():
    # tiny_upsample's widths are 4 * (1, 1, 2, 4): 4 groups fit, 8 do not divide the first levels.
    assert replace(preset("tiny_upsample"), norm_groups=2).norm_groups == 2
    with pytest.raises(ValueError, match=r"model\.norm_groups 8 .*\[4, 4, 8, 16\]"):
        replace(preset("tiny_upsample"), norm_groups=8)


def test_to_dict_holds_every_field():
    assert TINY_BASE.to_dict() == {f.name: getattr(TINY_BASE, f.name) for f in fields(ModelConfig)}
