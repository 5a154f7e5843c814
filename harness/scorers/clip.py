"""CLIP similarity scorer: cosine of image and prompt embeddings and CLIPScore = 100 * max(cos, 0).

Per sample: `clip.cos`, `clip.score`; per prompt: mean over seeds with an interval, and max; per run: the
mean of the prompt means with an interval over prompts (prompts, not images, are the independent units).
Means are of the per-sample clamped scores (Hessel et al.), not torchmetrics' clamp of a batch's mean.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import ClipConfig
from harness.scorers.options import BootstrapOptions
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import cluster_means, mean_ci, mean_interval_method
from harness.scorers.weights import WeightFile

log = logging.getLogger(__name__)


def clip_score(cos: np.ndarray) -> np.ndarray:
    """CLIPScore (Hessel et al. 2021, torchmetrics convention without the 2.5 weight): 100 * max(cos, 0)."""
    return 100.0 * np.clip(cos, 0.0, None)


def interval_text(metrics: dict, name: str) -> str:
    """`score_mean` and its interval as a note shows them: '11.03 [10.95, 11.12]'."""
    values = [metrics.get(f"{name}/score_{part}") for part in ("mean", "ci_low", "ci_high")]
    mean, low, high = (f"{v:.4g}" if v is not None and np.isfinite(v) else "n/a" for v in values)
    return f"{mean} [{low}, {high}]"


def similarity_metrics(
    name: str, cos: np.ndarray, score: np.ndarray, samples: pd.DataFrame, options: BootstrapOptions
) -> dict[str, float | None]:
    """`name/n`, `/n_prompts`, `/score_mean` with its interval over prompts (each prompt's seeds averaged
    first) and `/cos_mean` of per-sample image-text cosines and their scores."""
    by = "prompt_id" if "prompt_id" in samples.columns else "prompt"
    prompt_means = cluster_means(score, samples[by].to_numpy())
    low, high = mean_ci(prompt_means, options)
    n_prompts = len(prompt_means)
    return {
        f"{name}/n": float(len(score)),
        f"{name}/n_prompts": float(n_prompts),
        f"{name}/score_mean": float(prompt_means.mean()) if n_prompts else None,
        f"{name}/score_ci_low": low,
        f"{name}/score_ci_high": high,
        f"{name}/cos_mean": float(cos.mean()) if len(cos) else None,
    }


class ClipScorer:
    name = "clip"

    def __init__(self, config: ClipConfig, encoder: ClipEncoder) -> None:
        self.config = config
        self.encoder = encoder

    def weights(self) -> tuple[WeightFile, ...]:
        return self.encoder.weights()

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, ("key", "path_256", "prompt"), self.name)
        images = self.encoder.image_embeddings(list(samples["path_256"]), list(samples["key"]))
        texts = self.encoder.text_embeddings(list(samples["prompt"]))
        cos = (images * texts).sum(axis=1)
        score = clip_score(cos)
        columns = pd.DataFrame({"clip.cos": cos, "clip.score": score}, index=samples.index)

        metrics = similarity_metrics(self.name, cos, score, samples, self.config.bootstrap)
        n_prompts = int(metrics["clip/n_prompts"])
        if n_prompts >= 2:
            method = mean_interval_method(n_prompts, self.config.bootstrap)
            shown = interval_text(metrics, self.name)
            notes = [f"clip: score_mean {shown}, {method} interval over {n_prompts} prompt means"]
        else:
            notes = [f"clip: {n_prompts} prompt(s); no run interval (prompts are the independent units)"]
        return ScoreResult(columns, metrics, {"clip/per_prompt": self._per_prompt(samples, columns)}, notes)

    def _per_prompt(self, samples: pd.DataFrame, columns: pd.DataFrame) -> pd.DataFrame:
        by = "prompt_id" if "prompt_id" in samples.columns else "prompt"
        rows = []
        for prompt_id, index in samples.groupby(by, sort=True, dropna=False).groups.items():
            score = columns.loc[index, "clip.score"].to_numpy()
            low, high = mean_ci(score, self.config.bootstrap)
            rows.append(
                {
                    "prompt_id": str(prompt_id),
                    "prompt": str(samples.loc[index[0], "prompt"]),
                    "n": len(score),
                    "score_mean": float(score.mean()),
                    "score_ci_low": low,
                    "score_ci_high": high,
                    "ci_method": mean_interval_method(len(score), self.config.bootstrap) if len(score) >= 2 else None,
                    "score_max": float(score.max()),
                    "cos_mean": float(columns.loc[index, "clip.cos"].mean()),
                }
            )
        return pd.DataFrame(rows)
