"""GLIDE as a generator: the pipeline's two calls fed from each request's typed parameters, plus its mode's
inputs (inpainting's known pixels)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from harness.generate.boundary import Mode, ProgressFn, Request
from harness.glide.pipeline import GlidePipeline


class GlideGenerator:
    """A loaded GlidePipeline (its guide too when the guidance needs one) running in `mode`."""

    def __init__(self, pipeline: GlidePipeline, mode: Mode):
        self.pipeline = pipeline
        self.mode = mode
        self.unets = {"base": pipeline.base.model, "upsample": pipeline.upsampler.model}

    def base(self, requests: Sequence[Request], progress: ProgressFn | None = None) -> torch.Tensor:
        params = requests[0].params
        return self.pipeline.sample_base(
            [r.prompt.text for r in requests],
            [r.seed for r in requests],
            guidance=params.guidance,
            guidance_scale=params.guidance_scale,
            loop=params.base_loop,
            steps=params.base_steps,
            loop_options=params.loop_options("base"),
            progress=progress,
            **self.mode.inputs(requests, "base"),
        )

    def upsample(
        self, requests: Sequence[Request], images_64: torch.Tensor, progress: ProgressFn | None = None
    ) -> torch.Tensor:
        params = requests[0].params
        return self.pipeline.upsample(
            [r.prompt.text for r in requests],
            images_64,
            [r.seed for r in requests],
            loop=params.upsample_loop,
            steps=params.upsample_steps,
            temperature=params.upsample_temp,
            loop_options=params.loop_options("upsample"),
            progress=progress,
            **self.mode.inputs(requests, "upsample"),
        )
