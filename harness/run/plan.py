"""The plan of a run: one SampleSpec per prompt x seed, each with the content keys of its two images.

A key hashes everything that changes the pixels, so equal keys mean equal images and a store keyed by
them can be shared by runs, sweeps and shards.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch

from harness.config.schema import SampleParams, SamplerConfig, pixel_fields
from harness.config.suites import Prompt, Suite
from harness.generate.boundary import MODES, Request, mode_of
from harness.glide.guidance import get_guidance
from harness.glide.models import guided_model_id
from harness.glide.pipeline import resolve_dtype
from harness.glide.presets import preset
from harness.glide.spec import ModelSpec


@dataclass(frozen=True)
class Sampling:
    """What changes the pixels besides prompt and seed: the resolved model, device type and dtype, the mode
    the model runs in, and the sampler's pixel fields as one typed SampleParams."""

    model_id: str
    device_type: str
    dtype: str
    per_sample: bool
    compiled: bool  # torch.compile'd kernels differ from eager ones in the last bits
    params: SampleParams
    mode: str = "text2im"

    @classmethod
    def create(cls, sampler: SamplerConfig, **environment: Any) -> Sampling:
        return cls(**environment, params=SampleParams.of(sampler))

    def key_fields(self, stage: str) -> dict[str, Any]:
        """The fields of `stage` that enter its content key; a field added later is left out at its default."""
        values = self.params.stage_fields(stage)
        fields = {
            f.name: values[f.name]
            for f in pixel_fields(stage)
            if f.metadata["keyed_at_default"] or values[f.name] != f.default
        }
        if stage == "base":
            fields.update(model_id=self.model_id, device_type=self.device_type, dtype=self.dtype,
                          per_sample=self.per_sample, compiled=self.compiled)  # fmt: skip
        return fields


def sampling_of(model: ModelSpec, sampler: SamplerConfig, device: torch.device) -> Sampling:
    """What changes the pixels of `model`'s samples under `sampler` on `device`, besides prompt and seed."""
    return Sampling.create(
        sampler,
        mode=mode_of(model).name,
        model_id=guided_model_id(model, get_guidance(sampler.guidance).needs_guide),
        device_type=device.type,
        dtype=resolve_dtype(sampler.dtype, device, preset(model.base).num_channels),
        per_sample=sampler.per_sample,
        compiled=sampler.compile,
    )


@dataclass(frozen=True)
class SampleSpec:
    prompt: Prompt
    seed: int
    sampling: Sampling

    @property
    def base_key(self) -> str:
        """Key of the 64px sample: independent of the upsampler's parameters, so sweeps over them reuse it."""
        fields = {"stage": "base", "prompt": self.prompt.text, "seed": self.seed, **self.sampling.key_fields("base")}
        fields.update(MODES[self.sampling.mode].key_fields(self.prompt))  # text-to-image adds nothing
        return content_key(fields)

    @property
    def key(self) -> str:
        """Key of the 256px sample."""
        return content_key({"stage": "upsample", "base_key": self.base_key, **self.sampling.key_fields("upsample")})

    def request(self) -> Request:
        """What the generator is asked to make for this sample."""
        return Request(self.prompt, self.seed, self.sampling.params, self.base_key, self.key)


def content_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def make_plan(suite: Suite, sampling: Sampling, *, seed: int, samples_per_prompt: int) -> list[SampleSpec]:
    """Every prompt with seeds seed .. seed + samples_per_prompt - 1, prompt by prompt."""
    return [SampleSpec(p, seed + j, sampling) for p in suite.prompts for j in range(samples_per_prompt)]


def shard(plan: list[SampleSpec], index: int, count: int) -> list[SampleSpec]:
    """The index-th of count slices: prompts dealt round-robin in suite order, all seeds of a prompt together."""
    order = {pid: i for i, pid in enumerate(dict.fromkeys(spec.prompt.id for spec in plan))}
    return [spec for spec in plan if order[spec.prompt.id] % count == index]
