"""CLIP similarity scorer: cosine of image and prompt embeddings and CLIPScore = 100 * max(cos, 0).

Per sample: `clip.cos`, `clip.score`; per prompt and per run: mean with a bootstrap CI, and max per prompt.
Means are of the per-sample clamped scores (Hessel et al.), not torchmetrics' clamp of a batch's mean.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from harness.scorers.clip_encoder import ClipConfig, ClipEncoder
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import mean_ci

log = logging.getLogger(__name__)


def clip_score(cos: np.ndarray) -> np.ndarray:
    """CLIPScore (Hessel et al. 2021, torchmetrics convention without the 2.5 weight): 100 * max(cos, 0)."""
    return 100.0 * np.clip(cos, 0.0, None)


class ClipScorer:
    name = "clip"

    def __init__(self, config: ClipConfig, encoder: ClipEncoder) -> None:
        self.config = config
        self.encoder = encoder

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, ("key", "path_256", "prompt"), self.name)
        images = self.encoder.image_embeddings(list(samples["path_256"]), list(samples["key"]))
        texts = self.encoder.text_embeddings(list(samples["prompt"]))
        cos = (images * texts).sum(axis=1)
        score = clip_score(cos)
        columns = pd.DataFrame({"clip.cos": cos, "clip.score": score}, index=samples.index)

        low, high = mean_ci(score, self.config.bootstrap)
        metrics: dict[str, float | None] = {
            "clip/n": float(len(score)),
            "clip/score_mean": float(score.mean()) if len(score) else None,
            "clip/score_ci_low": low,
            "clip/score_ci_high": high,
            "clip/cos_mean": float(cos.mean()) if len(cos) else None,
        }
        notes = [] if len(score) >= 2 else [f"clip: {len(score)} sample(s); no confidence interval"]
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
                    "score_max": float(score.max()),
                    "cos_mean": float(columns.loc[index, "clip.cos"].mean()),
                }
            )
        return pd.DataFrame(rows)
