"""Image quality without a model: sharpness (variance of the Laplacian) and noise (wavelet MAD) per stage.

Scoring the 64px base sample and the 256px upsampled one separately shows what the upsampler adds. Both are
per-pixel statistics of each stage's own grid: compare a stage across runs (upsample_temp changes only 256px).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from harness.scorers.configs import QualityConfig
from harness.scorers.images import load_rgb
from harness.scorers.options import STAGE_COLUMNS
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import prompt_mean
from harness.scorers.weights import WeightFile

MEASURES = ("sharpness", "noise")

# ITU-R BT.601 luma weights, the same as PIL's convert("L"), but kept in float so that the grey image is not
# rounded to 8 bits (rounding alone adds noise of sigma 1/sqrt(12) grey levels).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def grey(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3) uint8 RGB image as float64 in grey levels [0, 255]."""
    return np.asarray(rgb, dtype=np.float64) @ LUMA_WEIGHTS


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian [[0, 1, 0], [1, -4, 1], [0, 1, 0]] of a grey image (Pech-Pacheco
    et al. 2000), over interior pixels only, so no border rule (reflect, wrap, zero) enters the number."""
    g = np.asarray(image, dtype=np.float64)
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def noise_sigma(image: np.ndarray) -> float:
    """Gaussian noise sigma of a grey image in its own units: median(|HH1|) / 0.6745 of the finest diagonal
    Daubechies-2 wavelet band (Donoho and Johnstone 1994), as scikit-image's estimate_sigma computes it.

    Fine texture also lands in HH1, so this is an upper bound on sensor-like noise; it is what 'grain' means here.
    """
    from skimage.restoration import estimate_sigma

    return float(estimate_sigma(np.asarray(image, dtype=np.float64)))


def measure(path: str) -> tuple[float, float]:
    """(sharpness, noise) of one image file, both on its grey image in grey levels."""
    image = grey(np.asarray(load_rgb(path)))
    return laplacian_variance(image), noise_sigma(image)


def _present(value: object) -> bool:
    return isinstance(value, str) and bool(value)


class QualityScorer:
    name = "quality"

    def __init__(self, config: QualityConfig) -> None:
        self.config = config

    def weights(self) -> tuple[WeightFile, ...]:
        """Nothing to load: both measures are closed-form image statistics."""
        return ()

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, tuple(STAGE_COLUMNS[s] for s in self.config.stages), self.name)
        columns = pd.DataFrame(index=samples.index)
        notes: list[str] = []
        for stage in self.config.stages:
            paths = samples[STAGE_COLUMNS[stage]].tolist()
            values = np.full((len(paths), 2), np.nan)
            for i, path in enumerate(tqdm(paths, desc=f"quality {stage}px", unit="image", leave=False)):
                if _present(path):
                    values[i] = measure(path)
            skipped = len(paths) - sum(_present(p) for p in paths)
            if skipped:
                notes.append(f"quality: {skipped} sample(s) have no {STAGE_COLUMNS[stage]}; their {stage}px is NaN")
            for j, name in enumerate(MEASURES):
                columns[f"quality.{name}_{stage}"] = values[:, j]
        metrics = self._metrics(samples, columns)
        return ScoreResult(columns, metrics, {"quality/per_prompt": self._per_prompt(samples, columns)}, notes)

    def _metrics(self, samples: pd.DataFrame, columns: pd.DataFrame) -> dict[str, float | None]:
        prompts = samples["prompt_id" if "prompt_id" in samples.columns else "prompt"].to_numpy()
        metrics: dict[str, float | None] = {}
        for column in columns.columns:
            metric = column.removeprefix("quality.")
            mean, low, high, _ = prompt_mean(columns[column].to_numpy(), prompts, self.config.bootstrap)
            metrics[f"quality/{metric}_mean"] = mean
            metrics[f"quality/{metric}_ci_low"] = low
            metrics[f"quality/{metric}_ci_high"] = high
        metrics["quality/n"] = float(len(columns))
        return metrics

    def _per_prompt(self, samples: pd.DataFrame, columns: pd.DataFrame) -> pd.DataFrame:
        by = "prompt_id" if "prompt_id" in samples.columns else "prompt"
        frame = columns.rename(columns=lambda c: c.removeprefix("quality.") + "_mean")
        frame.insert(0, "prompt_id", samples[by].astype(str))
        table = frame.groupby("prompt_id", sort=True).mean().reset_index()
        counts = samples.groupby(samples[by].astype(str), sort=True).size()
        table.insert(1, "n", counts.to_numpy())
        if "prompt" in samples.columns:
            first = samples.groupby(samples[by].astype(str), sort=True)["prompt"].first()
            table.insert(1, "prompt", first.to_numpy())
        return table
