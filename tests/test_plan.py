"""The plan: content keys that change with everything that changes the pixels and with nothing else, and
shards that partition the plan by prompt.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections import Counter
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from harness.config.schema import SamplerConfig, parse_shard, pixel_fields, register
from harness.config.suites import Prompt, Suite
from harness.errors import ConfigError
from harness.glide.guidance import GUIDANCE, register_guidance
from harness.run.plan import SampleSpec, Sampling, make_plan, shard

CONF = Path(__file__).resolve().parents[1] / "conf"
ENVIRONMENT = {
    "model_id": "tiny:tiny_base+tiny_upsample:random-seed0",
    "device_type": "cpu",
    "dtype": "fp32",
    "per_sample": True,
    "compiled": False,
}


def sampling(**changes) -> Sampling:
    """Sampling of the default sampler config with `changes` to its fields or to the environment."""
    environment = {key: changes.pop(key) for key in list(changes) if key in ENVIRONMENT}
    return Sampling.create(SamplerConfig(**changes), **{**ENVIRONMENT, **environment})


SAMPLING = sampling()
# Another value for every field of Sampling (each pixel field of the sampler config and each environment
# field); the upsampler's fields must leave the 64px key alone.
OTHER_VALUES = {
    "model_id": "glide:base+upsample:official",
    "device_type": "cuda",
    "dtype": "bf16",
    "per_sample": False,
    "compiled": True,
    "guidance": "toy_guidance",
    "guidance_scale": 5.0,
    "base_loop": "ddim",
    "base_steps": "50",
    "base_eta": 0.5,
    "upsample_loop": "ancestral",
    "upsample_steps": "ddim10",
    "upsample_eta": 0.5,
    "upsample_temp": 0.995,
}
# A field whose other value needs another field changed too, in both the changed and the unchanged spec.
BESIDES = {"base_eta": {"base_loop": "ddim"}}
UPSAMPLER_FIELDS = {f.name for f in pixel_fields("upsample")}
PROMPT = Prompt("house", "a house by the lake", {"kind": "scene"})


def spec(prompt: Prompt = PROMPT, seed: int = 0, **changes) -> SampleSpec:
    return SampleSpec(prompt, seed, sampling(**changes))


@pytest.fixture(autouse=True, scope="module")
def toy_guidance():
    """A second guidance name, so that the `guidance` field has a value to change to."""
    register_guidance("toy_guidance", lambda cond, uncond, scale: cond)
    yield
    del GUIDANCE["toy_guidance"]


def suite(n_prompts: int) -> Suite:
    return Suite("s", tuple(Prompt(f"p{i}", f"prompt number {i}") for i in range(n_prompts)))


# ---------------------------------------------------------------- content keys


def test_every_sampling_field_has_a_value_to_change_to():
    assert set(OTHER_VALUES) == set(ENVIRONMENT) | {f.name for f in pixel_fields()}
    assert set(SAMPLING.params.stage_fields()) == {f.name for f in pixel_fields()}


def changed_and_unchanged(field: str) -> tuple[SampleSpec, SampleSpec]:
    besides = BESIDES.get(field, {})
    return spec(**besides, **{field: OTHER_VALUES[field]}), spec(**besides)


@pytest.mark.parametrize("field", list(OTHER_VALUES))
def test_every_pixel_changing_parameter_changes_the_256px_key(field):
    changed, unchanged = changed_and_unchanged(field)
    assert changed.key != unchanged.key


@pytest.mark.parametrize("field", list(OTHER_VALUES))
def test_the_64px_key_changes_with_the_base_parameters_only(field):
    changed, unchanged = changed_and_unchanged(field)
    assert (changed.base_key != unchanged.base_key) == (field not in UPSAMPLER_FIELDS)


def test_default_settings_keep_the_keys_of_stores_written_before_loops_and_guidance_were_settings():
    # The key formula of the first store format, written out: sha256 of the sorted JSON of these fields.
    def old_key(fields: dict) -> str:
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]

    base = old_key(
        {"stage": "base", "prompt": PROMPT.text, "seed": 0, **ENVIRONMENT, "guidance_scale": 3.0, "base_steps": "100"}
    )
    key = old_key({"stage": "upsample", "base_key": base, "upsample_steps": "fast27", "upsample_temp": 0.997})
    assert (spec().base_key, spec().key) == (base, key)


def test_prompt_text_and_seed_change_both_keys():
    other_text = Prompt(PROMPT.id, "a house by the sea", PROMPT.tags)
    for other in (spec(prompt=other_text), spec(seed=1)):
        assert other.key != spec().key and other.base_key != spec().base_key


def test_prompt_id_tags_and_expected_class_do_not_change_the_keys():
    relabelled = Prompt("another_id", PROMPT.text, {"study": "other"}, "church")
    assert (spec(prompt=relabelled).key, spec(prompt=relabelled).base_key) == (spec().key, spec().base_key)


def test_an_integer_guidance_scale_gives_the_key_of_the_same_float():
    assert spec(guidance_scale=3).key == spec(guidance_scale=3.0).key


def test_keys_are_lowercase_hex_and_differ_between_the_two_images():
    assert set(spec().key) <= set(string.hexdigits.lower()) and set(spec().base_key) <= set(string.hexdigits.lower())
    assert spec().key != spec().base_key


# ---------------------------------------------------------------- the plan


def test_plan_is_every_prompt_with_consecutive_seeds_prompt_by_prompt():
    plan = make_plan(suite(3), SAMPLING, seed=10, samples_per_prompt=2)
    assert [(s.prompt.id, s.seed) for s in plan] == [(f"p{i}", 10 + j) for i in range(3) for j in range(2)]
    assert len({s.key for s in plan}) == len({s.base_key for s in plan}) == 6


def test_more_samples_per_prompt_keep_the_keys_of_fewer():
    few = make_plan(suite(2), SAMPLING, seed=0, samples_per_prompt=2)
    many = make_plan(suite(2), SAMPLING, seed=0, samples_per_prompt=5)
    assert {s.key for s in few} < {s.key for s in many}


def plan_keys(*overrides: str) -> list[tuple[str, str]]:
    """The (key, base_key) of every sample of the couch suite, composed from config as a run does it."""
    import torch

    from harness.run.job import resolve_sampling

    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["+suite=couch", "model=tiny", *overrides])
    rc = OmegaConf.to_object(cfg)
    plan = make_plan(
        Suite("couch", (PROMPT,)),
        resolve_sampling(rc, torch.device("cpu")),
        seed=rc.sampler.seed,
        samples_per_prompt=rc.sampler.samples_per_prompt,
    )
    return [(s.key, s.base_key) for s in plan]


@pytest.mark.parametrize(
    "override",
    ["sampler.batch_size=1", "logger=disabled", "scorers=[]", "store.cache_dir=elsewhere", "runner.shard=1/2"],
)
def test_options_that_do_not_touch_pixels_keep_the_keys(override):
    assert plan_keys(override) == plan_keys()


@pytest.mark.parametrize(
    "override",
    [
        "sampler.guidance_scale=4",
        "sampler.base_steps=50",
        "sampler.upsample_steps=ddim10",
        "sampler.upsample_temp=0.99",
        "sampler.base_loop=ddim",
        "sampler.upsample_loop=ancestral",
        "sampler.upsample_eta=0.3",
        "sampler.seed=7",
        "sampler.dtype=fp16",  # auto is fp32 or bf16, by machine
        "sampler.per_sample=false",
        "sampler.compile=true",
        "model.seed=1",
    ],
)
def test_options_that_touch_pixels_change_every_key(override):
    default, changed = plan_keys(), plan_keys(override)
    assert not {key for key, _ in default} & {key for key, _ in changed}


def test_weights_from_checkpoint_files_change_every_key(tmp_path):
    # Keys of file weights name the files' digests; the files must be readable checkpoints of the preset's layout
    # (the full-size ones are 1.5 GB, so the tiny presets' layout stands in for them).
    import torch

    from harness.glide.models import random_model

    for stage, preset_name in (("base", "tiny_base"), ("upsample", "tiny_upsample")):
        torch.save(random_model(preset_name, 3).state_dict(), tmp_path / f"{stage}.pt")
    files = [f"model.base_path={tmp_path / 'base.pt'}", f"model.upsample_path={tmp_path / 'upsample.pt'}"]
    from_files = plan_keys("model.weights=official", f"model.cache_dir={tmp_path}", "model.download=false", *files)
    assert not {key for key, _ in plan_keys()} & {key for key, _ in from_files}


# ---------------------------------------------------------------- shards


@pytest.mark.parametrize(("n_prompts", "count"), [(5, 1), (5, 2), (5, 3), (4, 4), (2, 5)])
def test_shards_partition_the_plan_by_prompt_and_are_balanced(n_prompts, count):
    plan = make_plan(suite(n_prompts), SAMPLING, seed=0, samples_per_prompt=3)
    shards = [shard(plan, index, count) for index in range(count)]
    assert Counter(s.key for part in shards for s in part) == Counter(s.key for s in plan)
    owners = {
        s.prompt.id: {i for i, part in enumerate(shards) for t in part if t.prompt.id == s.prompt.id} for s in plan
    }
    assert all(len(owner) == 1 for owner in owners.values())  # every seed of a prompt in one shard
    prompts_per_shard = [len({s.prompt.id for s in part}) for part in shards]
    assert max(prompts_per_shard) - min(prompts_per_shard) <= 1
    assert all(len(part) == 3 * n for part, n in zip(shards, prompts_per_shard, strict=True))
    for part in shards:  # each shard keeps the plan's order
        assert part == [s for s in plan if s in part]


def test_a_shard_is_the_same_on_every_call():
    plan = make_plan(suite(7), SAMPLING, seed=0, samples_per_prompt=2)
    assert shard(plan, 1, 3) == shard(list(plan), 1, 3)


@pytest.mark.parametrize(("text", "expected"), [("0/1", (0, 1)), ("3/4", (3, 4)), (" 1/2", (1, 2))])
def test_shard_text_is_index_over_count(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["2/2", "-1/2", "0/0", "1", "a/b", "1/2/3", ""])
def test_a_bad_shard_is_refused_naming_it(text):
    with pytest.raises(ConfigError, match=rf"runner\.shard: '{text}'.*0 <= I < N"):
        parse_shard(text)
