"""The guide's own score: GLIDE's noised CLIP at its clean-image timestep, on each 64 px base image and its prompt.

The same encoders the run's CLIP guidance differentiates (model.clip's preset and files, or the tiny random ones
drawn from the guide's seed). Per sample `guide_clip.cos` and `guide_clip.score` = logit_scale (100) * cos, the
logit whose gradient the guide follows, not clamped at 0 as CLIPScore is (the guide climbs it from below 0 too).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from harness.glide.checkpoints import CheckpointError, checkpoint_info, default_cache_dir, resolve_checkpoint
from harness.glide.models import CLIP_PARTS, ModelSpec, load_guide
from harness.glide.noised_clip import normalize
from harness.glide.pipeline import ClipGuide
from harness.glide.presets import clip_preset
from harness.scorers.clip import interval_text, similarity_metrics
from harness.scorers.configs import GuideClipConfig
from harness.scorers.images import load_rgb
from harness.scorers.options import require
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import mean_interval_method
from harness.scorers.weights import WeightFile, local_path

CLIP_FETCH = "python -m harness.fetch --only glide --modes clip"


def base_pixels(paths: list[str]) -> torch.Tensor:
    """The stored 64 px PNGs as the guide's input: (batch, 3, H, W) float32 in [-1, 1], u / 127.5 - 1 (the
    inverse of the pipeline's uint8 rounding, as the upsampler's low-res input)."""
    pixels = np.stack([np.asarray(load_rgb(path), dtype=np.uint8) for path in paths])
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def clip_weights(spec: ModelSpec) -> tuple[WeightFile, ...]:
    """The noised CLIP's two files where the guide loads them (given path, else the cache); random: none."""
    if spec.random_weights:
        return ()
    cache = Path(spec.cache_dir).expanduser() if spec.cache_dir else default_cache_dir()
    fetch = CLIP_FETCH + (f" --cache-dir {spec.cache_dir}" if spec.cache_dir else "")
    weights = []
    for part, path_field in CLIP_PARTS.items():
        given = getattr(spec, path_field)
        label = f"noised CLIP {part} (model.{path_field})"
        if given is not None:
            weights.append(local_path(label, Path(given).expanduser()))
            continue
        cached = cache / checkpoint_info(part).filename
        try:
            resolve_checkpoint(part, cache_dir=cache, download=False)
            available = True
        except CheckpointError:
            available = False
        weights.append(WeightFile(label, str(cached), available, fetch))
    return tuple(weights)


class GuideClipScorer:
    name = "guide_clip"

    def __init__(self, config: GuideClipConfig, model: ModelSpec, device: str = "cpu") -> None:
        steps = clip_preset(model.clip).n_timesteps
        require(
            config.timestep < steps, "scorer.guide_clip.timestep", f"below {steps} for {model.clip}", config.timestep
        )
        self.config = config
        self.model = model
        self.device = torch.device(device)

    def weights(self) -> tuple[WeightFile, ...]:
        return clip_weights(self.model)

    @cached_property
    def guide(self) -> ClipGuide:
        return load_guide(self.model, self.device)

    @torch.no_grad()
    def image_embeddings(self, paths: list[str]) -> torch.Tensor:
        """Normalised image embeddings (batch, n_embd) of the images at the configured timestep."""
        encoder = self.guide.image_encoder
        rows = []
        for start in range(0, len(paths), self.config.batch_size):
            x = base_pixels(paths[start : start + self.config.batch_size]).to(self.device)
            t = torch.full((len(x),), self.config.timestep, dtype=torch.long, device=self.device)
            rows.append(normalize(encoder(x, t)))
        return torch.cat(rows) if rows else torch.zeros(0, encoder.cfg.n_embd)

    @torch.no_grad()
    def text_embeddings(self, prompts: list[str]) -> torch.Tensor:
        """Normalised text embeddings, one row per prompt (each distinct prompt encoded once)."""
        unique = list(dict.fromkeys(prompts))
        if not unique:
            return torch.zeros(0, self.guide.text_encoder.cfg.n_embd)
        table = dict(zip(unique, self.guide.encode(unique), strict=True))
        return torch.stack([table[prompt] for prompt in prompts])

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, ("path_64", "prompt"), self.name)
        images = self.image_embeddings(list(samples["path_64"]))
        texts = self.text_embeddings(list(samples["prompt"]))
        cos = (images * texts).sum(dim=1).double().cpu().numpy()
        score = self.guide.image_encoder.cfg.logit_scale * cos
        columns = pd.DataFrame({"guide_clip.cos": cos, "guide_clip.score": score}, index=samples.index)
        metrics = similarity_metrics(self.name, cos, score, samples, self.config.bootstrap)
        n_prompts = int(metrics["guide_clip/n_prompts"])
        where = f"the noised CLIP ({self.model.clip}) at t={self.config.timestep} on the 64 px base images"
        if n_prompts >= 2:
            method = mean_interval_method(n_prompts, self.config.bootstrap)
            shown = interval_text(metrics, self.name)
            notes = [f"guide_clip: {where}; score_mean {shown}, {method} interval over {n_prompts} prompt means"]
        else:
            notes = [f"guide_clip: {where}; {n_prompts} prompt(s), no run interval"]
        return ScoreResult(columns, metrics, {}, notes)
