"""Structured configs: the typed shape of every Hydra config node, registered in Hydra's ConfigStore.

A wrong type or an unknown key fails at composition with the key's name; value checks (ranges, NaN) run in
`__post_init__`, which `OmegaConf.to_object` calls before any work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf.errors import OmegaConfBaseException

from harness.glide.checkpoints import CheckpointError
from harness.glide.diffusion import space_timesteps
from harness.glide.models import ModelSpec, check_device
from harness.glide.pipeline import DTYPES
from harness.glide.tokenizer import TokenizerError

DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A config value outside what is allowed; the message names the key, the value and what is allowed."""


# What a user's input or environment can cause (not bugs): reported as one `error:` line, exit code 2.
USAGE_ERRORS = (ConfigError, CheckpointError, TokenizerError, OmegaConfBaseException, ValueError)


def error_line(err: BaseException) -> str:
    """The first line of an error's message (its type when it has none)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@dataclass
class SamplerConfig:
    guidance_scale: float = 3.0  # classifier-free guidance scale s (1 = no guidance)
    base_steps: str = "100"  # respacing of the base model's ancestral loop
    upsample_steps: str = "fast27"  # respacing of the upsampler's DDIM (eta 0) loop
    upsample_temp: float = 0.997  # x_T = temp * N(0, I) for the upsampler
    batch_size: int = 8
    samples_per_prompt: int = 4  # seeds seed, seed + 1, ... for every prompt
    seed: int = 0
    device: str = "auto"  # auto: cuda when available, else cpu
    dtype: str = "auto"  # fp32 | bf16 | fp16; auto: bf16 on cuda and on CPUs with native bf16, else fp32
    per_sample: bool = True  # one forward per sample: pixels independent of batching (see README)
    compile: bool = False  # torch.compile the UNets (pays off on a GPU for long runs; first batch compiles)

    def __post_init__(self) -> None:
        if not math.isfinite(self.guidance_scale) or self.guidance_scale < 0:
            raise ConfigError(f"sampler.guidance_scale: {self.guidance_scale!r} must be a finite number >= 0")
        if not math.isfinite(self.upsample_temp) or self.upsample_temp <= 0:
            raise ConfigError(f"sampler.upsample_temp: {self.upsample_temp!r} must be a finite number > 0")
        for key in ("batch_size", "samples_per_prompt"):
            if getattr(self, key) < 1:
                raise ConfigError(f"sampler.{key}: {getattr(self, key)!r} must be an integer >= 1")
        for key in ("base_steps", "upsample_steps"):
            try:
                space_timesteps(1000, getattr(self, key))
            except ValueError as err:
                raise ConfigError(f"sampler.{key}: {err}") from None
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(f"sampler.device: {self.device!r} is not one of {', '.join(DEVICES)} or cuda:N")
        check_device(self.device)
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise ConfigError(f"sampler.dtype: {self.dtype!r} is not one of auto, {', '.join(DTYPES)}")


@dataclass
class PromptConfig:
    id: str
    text: str
    tags: dict[str, str] = field(default_factory=dict)
    expected_class: str | None = None  # the class a control prompt names (bias probe validation)


@dataclass
class SuiteConfig:
    name: str = "custom"
    description: str = ""
    prompts: list[PromptConfig] = field(default_factory=list)
    path: str | None = None  # a .txt (one prompt per line) or .csv file of prompts, instead of or besides `prompts`


@dataclass
class RunnerConfig:
    shard: str = "0/1"  # I/N: sample only the I-th of N slices of the plan (by prompt)
    stage: str = "all"  # all | sample | score

    def __post_init__(self) -> None:
        if self.stage not in ("all", "sample", "score"):
            raise ConfigError(f"runner.stage: {self.stage!r} is not one of all, sample, score")


@dataclass
class StoreConfig:
    cache_dir: str = "outputs/samples"  # the shared sample store; relative to the directory of the command


@dataclass
class RunConfig:
    model: ModelSpec = field(default_factory=ModelSpec)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    suite: SuiteConfig | None = None
    experiment: str | None = None
    note: str = ""  # what the study is for / what the seed observed (experiments set it)
    scorers: list[str] = field(default_factory=list)
    scorer: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)


def register() -> None:
    ConfigStore.instance().store(name="run_schema", node=RunConfig)
