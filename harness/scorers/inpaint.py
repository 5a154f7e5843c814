"""Inpainting scorer: how exactly the known region is kept, and how well the repainted one shows the prompt.

Per sample, at 64 px (base) and 256 px (upsampler; the 64 px keep-mask nearest-upsampled, as the pipeline
does): the MSE and PSNR of the known pixels against the source (uint8, the source PIL-bicubic resized as the
pipeline resizes it) and the LPIPS of the result with its hole filled from the source against the source, so
that only the known pixels can differ; and the CLIP similarity of the repainted region to the prompt.

The pipeline imposes the known pixels in every step, so their MSE is 0 and their PSNR infinite wherever the
pipeline works: the per-sample PSNR column holds inf then (as skimage does), and the run metrics give the share
of exact samples, the largest MSE and the lowest PSNR of the inexact ones (None when every sample is exact).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from harness.glide.masks import BASE_SIZE, UPSAMPLE_SIZE, source_tensor, upsampled_mask
from harness.scorers.clip import clip_score
from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import InpaintConfig
from harness.scorers.images import load_rgb
from harness.scorers.perceptual import lpips_network
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import prompt_mean
from harness.scorers.weights import WeightFile

STAGES = {"64": ("path_64", BASE_SIZE), "256": ("path_256", UPSAMPLE_SIZE)}
REQUIRED = ("key", "prompt", "path_64", "path_256", "path_source", "path_mask")


def uint8_pixels(path: str) -> np.ndarray:
    return np.asarray(load_rgb(path), dtype=np.uint8)


def source_pixels(path: str, size: int) -> np.ndarray:
    """The source as the pipeline sees it at `size`: PIL bicubic, uint8 (its [-1, 1] scaling undone exactly)."""
    scaled = source_tensor(load_rgb(path), size)[0].permute(1, 2, 0)
    return ((scaled + 1) * 127.5).round().to(torch.uint8).numpy()


def keep_mask_at(path_mask: str, size: int) -> np.ndarray:
    """The keep-mask PNG (white keeps) as a boolean (size, size) array, nearest-upsampled from 64 px."""
    mask_64 = torch.from_numpy(np.asarray(Image.open(path_mask).convert("L")) > 127).float()[None, None]
    return upsampled_mask(mask_64, size)[0, 0].numpy() > 0.5


def known_mse_psnr(result: np.ndarray, source: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    """MSE over the known pixels (all three channels, uint8 levels) and PSNR = 10 log10(255^2 / MSE) in dB."""
    diff = result[keep].astype(np.float64) - source[keep].astype(np.float64)
    mse = float(np.mean(diff**2))
    return mse, (math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse))


def hole_from_source(result: np.ndarray, source: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The result with its repainted pixels replaced by the source's: it differs from the source only where kept."""
    return np.where(keep[..., None], result, source)


def repainted_box(keep: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom), right and bottom exclusive, of the pixels the mask repaints."""
    rows, cols = np.nonzero(~keep)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def _lpips_input(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1)[None] / 127.5 - 1.0


class InpaintScorer:
    """The CLIP part crops the bounding box of the repainted region from the 256 px result and lets the CLIP
    model's own preprocessing resize it: greying the known part instead would leave a grey frame in the picture
    that CLIP reads as content, and the crop shows the new content at the largest size CLIP's input allows."""

    name = "inpaint"

    def __init__(self, config: InpaintConfig, encoder: ClipEncoder) -> None:
        self.config = config
        self.encoder = encoder
        self._lpips: dict[bool, torch.nn.Module] = {}

    def weights(self) -> tuple[WeightFile, ...]:
        """The shared CLIP model's weights (scorer.clip) are the clip scorer's to check; LPIPS's heads ship
        with the lpips wheel and its pretrained backbone comes from torchvision's cache."""
        return ()

    def lpips(self, random_weights: bool) -> torch.nn.Module:
        if random_weights not in self._lpips:
            cfg = self.config
            self._lpips[random_weights] = lpips_network(cfg.lpips_net, cfg.lpips_backbone, random_weights)
        return self._lpips[random_weights]

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, REQUIRED, self.name)
        random_weights = bool(samples["random_weights"].all()) if "random_weights" in samples else False
        rows = [self._known(row, random_weights) for _, row in samples.iterrows()]
        columns = pd.DataFrame(rows, index=samples.index)
        cos = self._clip_cos(samples)
        columns["inpaint.clip_cos"] = cos
        columns["inpaint.clip_score"] = clip_score(cos)
        metrics, notes = self._metrics(samples, columns)
        return ScoreResult(columns, metrics, {}, notes)

    def _known(self, row: pd.Series, random_weights: bool) -> dict[str, float]:
        out = {}
        for stage, (column, size) in STAGES.items():
            result, source = uint8_pixels(row[column]), source_pixels(row["path_source"], size)
            keep = keep_mask_at(row["path_mask"], size)
            mse, psnr = known_mse_psnr(result, source, keep)
            with torch.no_grad():
                filled = _lpips_input(hole_from_source(result, source, keep))
                distance = self.lpips(random_weights)(filled, _lpips_input(source))
            out |= {
                f"inpaint.known_mse_{stage}": mse,
                f"inpaint.known_psnr_{stage}": psnr,
                f"inpaint.known_lpips_{stage}": float(distance.flatten()[0]),
            }
        return out

    def _clip_cos(self, samples: pd.DataFrame) -> np.ndarray:
        """Cosine of each repainted region's crop (256 px result) and its prompt."""
        if not len(samples):
            return np.empty(0)
        with tempfile.TemporaryDirectory(prefix="inpaint-crops-") as folder:
            paths, keys = [], []
            for i, (_, row) in enumerate(samples.iterrows()):
                box = repainted_box(keep_mask_at(row["path_mask"], UPSAMPLE_SIZE))
                path = Path(folder) / f"{i}.png"
                load_rgb(row["path_256"]).crop(box).save(path)
                paths.append(str(path))
                keys.append(f"inpaint-crop:{row['key']}:{'-'.join(map(str, box))}")  # the crop's pixels follow
            images = self.encoder.image_embeddings(paths, keys)
        texts = self.encoder.text_embeddings(list(samples["prompt"]))
        return (images * texts).sum(axis=1)

    def _metrics(self, samples: pd.DataFrame, columns: pd.DataFrame) -> tuple[dict[str, float | None], list[str]]:
        by = samples["prompt_id" if "prompt_id" in samples.columns else "prompt"].astype(str).to_numpy()
        metrics: dict[str, float | None] = {"inpaint/n": float(len(samples))}
        for name in ("clip_score", "known_lpips_64", "known_lpips_256"):
            mean, low, high, n_prompts = prompt_mean(columns[f"inpaint.{name}"].to_numpy(), by, self.config.bootstrap)
            metrics |= {f"inpaint/{name}_mean": mean, f"inpaint/{name}_ci_low": low, f"inpaint/{name}_ci_high": high}
        metrics["inpaint/n_prompts"] = float(len(set(by)))
        notes = []
        for stage in STAGES:
            mse = columns[f"inpaint.known_mse_{stage}"].to_numpy()
            psnr = columns[f"inpaint.known_psnr_{stage}"].to_numpy()
            inexact = psnr[mse > 0]
            metrics |= {
                f"inpaint/known_exact_{stage}": float(np.mean(mse == 0)) if len(mse) else None,
                f"inpaint/known_mse_{stage}_max": float(mse.max()) if len(mse) else None,
                f"inpaint/known_psnr_{stage}_min": float(inexact.min()) if len(inexact) else None,
            }
            if len(mse) and not len(inexact):
                notes.append(
                    f"inpaint: the known pixels of all {len(mse)} samples at {stage} px equal the source exactly "
                    "(MSE 0, PSNR inf; known_psnr_min is left empty)"
                )
        notes.append(
            "inpaint: clip_score is CLIPScore of the repainted region's bounding-box crop of the 256 px result and "
            f"the prompt; means over {len(set(by))} prompt(s), intervals over prompts"
        )
        return metrics, notes
