"""Generated source images of inpainting suites: a prompt's `image: {prompt, seed}` is a sample of the
inpainting model's text-to-image pair (model.source), made into the shared store before the run is planned.
"""

from __future__ import annotations

import torch

from harness.config.schema import RunConfig, SamplerConfig, pixel_fields
from harness.config.suites import Prompt, Suite
from harness.errors import ConfigError
from harness.glide.spec import SourceSpec
from harness.run.plan import SampleSpec, sampling_of


def source_sampler(source: SourceSpec, run: SamplerConfig) -> SamplerConfig:
    """The sampler of generated sources: the run's device and batching, the source pair's own pixel fields."""
    allowed = [f.name for f in pixel_fields()]
    unknown = [key for key in source.sampler if key not in allowed]
    if unknown:
        raise ConfigError(f"model.source.sampler.{unknown[0]}: unknown key; allowed: {', '.join(allowed)}")
    try:
        runtime = {"batch_size": run.batch_size, "device": run.device, "dtype": run.dtype,
                   "per_sample": run.per_sample, "compile": run.compile}  # fmt: skip
        return SamplerConfig(**runtime, **source.sampler)
    except ConfigError as err:
        raise ConfigError(f"model.source.{err}") from None


def source_specs(suite: Suite, rc: RunConfig, device: torch.device) -> list[SampleSpec]:
    """One text-to-image sample per generated source of the suite, in `suite.sources` order (their 256 px images
    are the sources); keyed as that pair's samples of any run, so runs and suites share them."""
    sources = suite.sources
    if not sources:
        return []
    if rc.model.source is None:
        prompt = next(p for p in suite.prompts if p.source is not None)
        raise ConfigError(
            f"prompt {prompt.id!r}: its image is a generated source, but model={rc.model.name} names no "
            "model.source (the text-to-image pair that makes it); give the image as a path"
        )
    sampler = source_sampler(rc.model.source, rc.sampler)
    sampling = sampling_of(rc.model.source.model(rc.model), sampler, device)
    return [SampleSpec(Prompt(f"source_{i}", s.prompt), s.seed, sampling) for i, s in enumerate(sources)]
