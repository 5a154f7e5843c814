"""The sampler presets: sampler=fast composes onto the default, and needs at most 1/3 of its UNet FLOPs."""

from __future__ import annotations

from cli_helpers import CONF
from hydra import compose, initialize_config_dir

from harness.bench import count_forwards, count_gflop, sampler_preset, scaled_steps
from harness.config.schema import register
from harness.glide.respacing import space_timesteps


def test_fast_keeps_every_other_key_of_the_default():
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        default = compose(config_name="config", overrides=["+suite=couch"]).sampler
        fast = compose(config_name="config", overrides=["+suite=couch", "sampler=fast"]).sampler
    changed = {k for k in default if default[k] != fast[k]}
    assert changed == {"base_loop", "base_steps", "upsample_loop", "upsample_steps"}
    assert (fast.base_loop, fast.base_steps, fast.upsample_steps) == ("dpmpp_2m", "25", "10")


def test_each_preset_calls_the_unets_once_per_kept_timestep():
    for name in ("default", "fast"):
        preset = sampler_preset(name)
        expected = tuple(len(space_timesteps(1000, preset[f"{s}_steps"])) for s in ("base", "upsample"))
        assert count_forwards(preset) == expected
    assert count_forwards(sampler_preset("default")) == (100, 27)


def test_fast_needs_at_most_a_third_of_the_defaults_unet_flops_per_image():
    base, up = count_gflop("base", 2), count_gflop("upsample", 1)  # guided base forwards run at batch 2
    default = 100 * base + 27 * up
    fast = 25 * base + 10 * up
    assert fast <= default / 3


def test_a_scaled_timing_run_keeps_a_share_of_the_steps_and_at_least_two():
    assert scaled_steps("100", 0.1) == "10" and scaled_steps("fast27", 0.1) == "3" and scaled_steps("25", 0.01) == "2"
    assert scaled_steps("fast27", 1.0) == "fast27"
