"""The plan of a run: one SampleSpec per prompt x seed, each with the content keys of its two images.

A key hashes everything that changes the pixels, so equal keys mean equal images and a store keyed by
them can be shared by runs, sweeps and shards.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from harness.schema import ConfigError
from harness.suites import Prompt, Suite


@dataclass(frozen=True)
class Sampling:
    """What changes the pixels besides prompt and seed: resolved model, device type, dtype and parameters."""

    model_id: str
    device_type: str
    dtype: str
    per_sample: bool
    compiled: bool  # torch.compile'd kernels differ from eager ones in the last bits
    guidance_scale: float
    base_steps: str
    upsample_steps: str
    upsample_temp: float

    def base_fields(self) -> dict:
        return {
            "model_id": self.model_id,
            "device_type": self.device_type,
            "dtype": self.dtype,
            "per_sample": self.per_sample,
            "compiled": self.compiled,
            "guidance_scale": float(self.guidance_scale),
            "base_steps": self.base_steps,
        }


@dataclass(frozen=True)
class SampleSpec:
    prompt: Prompt
    seed: int
    sampling: Sampling

    @property
    def base_key(self) -> str:
        """Key of the 64px sample: independent of the upsampler's parameters, so sweeps over them reuse it."""
        return content_key(
            {"stage": "base", "prompt": self.prompt.text, "seed": self.seed, **self.sampling.base_fields()}
        )

    @property
    def key(self) -> str:
        """Key of the 256px sample."""
        upsample = {"upsample_steps": self.sampling.upsample_steps, "upsample_temp": float(self.sampling.upsample_temp)}
        return content_key({"stage": "upsample", "base_key": self.base_key, **upsample})


def content_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def make_plan(suite: Suite, sampling: Sampling, *, seed: int, samples_per_prompt: int) -> list[SampleSpec]:
    """Every prompt with seeds seed .. seed + samples_per_prompt - 1, prompt by prompt."""
    return [SampleSpec(p, seed + j, sampling) for p in suite.prompts for j in range(samples_per_prompt)]


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 0 <= I < N."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        index, count = -1, 0
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"runner.shard: {text!r} must be I/N with 0 <= I < N, e.g. 0/4")
    return index, count


def shard(plan: list[SampleSpec], index: int, count: int) -> list[SampleSpec]:
    """The index-th of count slices: prompts dealt round-robin in suite order, all seeds of a prompt together."""
    order = {pid: i for i, pid in enumerate(dict.fromkeys(spec.prompt.id for spec in plan))}
    return [spec for spec in plan if order[spec.prompt.id] % count == index]
