"""A sample's parameters travel as one typed SampleParams from the config to the generator: the plan, the
runner and the generators read them as attributes, never by a name in a string, and the manifest's parameter
columns and a finding's `compare` map to the config's keys in one place (harness.config.schema)."""

from __future__ import annotations

import ast
import dataclasses

import pytest
import torch
from cli_helpers import REPO

from harness.config.schema import SampleParams, SamplerConfig, config_key, pixel_fields, sample_column
from harness.config.suites import Prompt, Suite
from harness.generate.glide_generator import GlideGenerator
from harness.generate.text2im_mode import TextToImage
from harness.glide.models import ModelSpec, load_pipeline
from harness.run.plan import Sampling, make_plan
from harness.run.runner import sample_missing
from harness.run.store import SampleStore

# Everything between the typed config and the models: the plan, the runner, the job, the generators.
BETWEEN = [
    *sorted((REPO / "harness" / "run").glob("*.py")),
    *sorted((REPO / "harness" / "generate").glob("*.py")),
    REPO / "harness" / "toy" / "generator.py",
]
PARAMETER_NAMES = {f.name for f in pixel_fields()}


def lookups_by_name(source: str) -> list[str]:
    """Each place in `source` that reads a sample parameter by a name in a string: `x.param("guidance")`,
    `x["guidance_scale"]`, `getattr(x, "base_steps")` or getattr with a name built at run time, `dict(x.params)`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}: {ast.unparse(node)}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "param":
            found.append(where)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if node.slice.value in PARAMETER_NAMES:
                found.append(where)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            name = node.args[1] if len(node.args) > 1 else None
            if not isinstance(name, ast.Constant) or name.value in PARAMETER_NAMES:
                found.append(where)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            found += [where for arg in node.args[:1] if isinstance(arg, ast.Attribute) and arg.attr == "params"]
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        'spec.sampling.param("guidance_scale")',
        'params["upsample_temp"]',
        'getattr(params, "base_steps")',
        'getattr(params, f"{stage}_loop")',
        "dict(sampling.params)",
    ],
)
def test_the_scan_finds_a_parameter_read_by_name(snippet):
    assert lookups_by_name(snippet)


@pytest.mark.parametrize("path", BETWEEN, ids=lambda p: str(p.relative_to(REPO)))
def test_no_parameter_is_read_by_name_between_the_config_and_the_models(path):
    assert lookups_by_name(path.read_text()) == []


def test_sample_params_are_the_samplers_pixel_fields_frozen_and_typed():
    params = SampleParams.of(SamplerConfig(device="cpu", guidance_scale=5, upsample_temp=1))
    assert [f.name for f in dataclasses.fields(params)] == [f.name for f in pixel_fields()]
    assert (params.guidance_scale, params.upsample_temp) == (5.0, 1.0)
    assert type(params.guidance_scale) is float and type(params.upsample_temp) is float  # Hydra may give ints
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.guidance_scale = 3.0
    assert params.loop_options("upsample") == {"eta": 0.0}  # the ddim loop's one option, from upsample_eta


def test_a_finding_names_a_sampler_value_as_the_config_does_and_the_manifest_column_follows():
    for f in pixel_fields():
        assert sample_column(f"sampler.{f.name}") == f.name
        assert config_key(f.name) == f"sampler.{f.name}"
    assert sample_column("sampler.seed") == "seed" and config_key("seed") == "sampler.seed"
    assert sample_column("model.name") == "model.name" and config_key("prompt_id") == "prompt_id"
    assert sample_column("tag.style") == "tag.style"


class RecordingGlide(GlideGenerator):
    """The real GLIDE generator on the tiny model, keeping what each call was given."""

    def __init__(self, *args):
        super().__init__(*args)
        self.seen = []

    def base(self, requests, progress=None):
        self.seen += [("base", r.params) for r in requests]
        return super().base(requests, progress)

    def upsample(self, requests, images_64, progress=None):
        self.seen += [("upsample", r.params) for r in requests]
        return super().upsample(requests, images_64, progress)


def test_the_generator_gets_the_configs_values_as_one_typed_object(tmp_path):
    torch.set_num_threads(1)
    sampler = SamplerConfig(device="cpu", guidance_scale=2, base_steps="3", upsample_steps="ddim2", upsample_temp=0.99)
    sampling = Sampling.create(
        sampler, model_id="tiny", device_type="cpu", dtype="fp32", per_sample=True, compiled=False
    )
    suite = Suite("s", (Prompt("a", "a red cube"),))
    generator = RecordingGlide(load_pipeline(ModelSpec(name="tiny", base="tiny_base", upsample="tiny_upsample",
                                                        weights="random")), TextToImage())  # fmt: skip
    sample_missing(make_plan(suite, sampling, seed=0, samples_per_prompt=2), SampleStore(tmp_path), lambda: generator,
                   batch_size=2)  # fmt: skip
    assert [stage for stage, _ in generator.seen] == ["base", "base", "upsample", "upsample"]
    expected = SampleParams(guidance_scale=2.0, base_steps="3", upsample_steps="ddim2", upsample_temp=0.99)
    assert all(type(params) is SampleParams and params == expected for _, params in generator.seen)
