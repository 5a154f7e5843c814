"""The inpaint scorer against independent computations: skimage's PSNR, lpips.LPIPS and open_clip called directly."""

from __future__ import annotations

import math
from pathlib import Path

import lpips
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from harness.scorers import ScorerConfigError, build_scorers

# The repainted rectangle at 64 px: rows 24..55, columns 8..39 (white keeps, black repaints).
HOLE_64 = (slice(24, 56), slice(8, 40))
PROMPTS = ["a corgi in a field", "a cat on the couch"]


def bicubic(image: Image.Image, size: int) -> np.ndarray:
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def keep_64() -> np.ndarray:
    keep = np.ones((64, 64), dtype=bool)
    keep[HOLE_64] = False
    return keep


def keep_256() -> np.ndarray:
    return np.repeat(np.repeat(keep_64(), 4, axis=0), 4, axis=1)  # nearest upsampling by 4


def inpainted(source: np.ndarray, keep: np.ndarray, rng: np.random.Generator, known_noise: int) -> np.ndarray:
    """The source with random pixels in the hole and, with known_noise > 0, +-known_noise on some known pixels."""
    result = source.copy()
    result[~keep] = rng.integers(0, 256, size=result[~keep].shape, dtype=np.uint8)
    if known_noise:
        jitter = rng.integers(-known_noise, known_noise + 1, size=result.shape)
        changed = np.clip(result.astype(int) + jitter, 0, 255).astype(np.uint8)
        result = np.where(keep[..., None], changed, result)
    return result


@pytest.fixture
def inpainting_run(tmp_path: Path):
    """Two prompts x two seeds: seed 0 keeps the known pixels exactly, seed 1 perturbs them."""
    rng = np.random.default_rng(5)
    coarse = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    source = Image.fromarray(coarse).resize((100, 80), Image.Resampling.BILINEAR)
    source_path = tmp_path / "source.png"
    source.save(source_path)
    mask_path = tmp_path / "mask.png"
    Image.fromarray(keep_64().astype(np.uint8) * 255, "L").save(mask_path)
    rows = []
    for p, prompt in enumerate(PROMPTS):
        for seed in (0, 1):
            key = f"k{p}{seed}"
            r64 = inpainted(bicubic(source, 64), keep_64(), rng, known_noise=3 * seed)
            r256 = inpainted(bicubic(source, 256), keep_256(), rng, known_noise=5 * seed)
            Image.fromarray(r64).save(tmp_path / f"{key}_64.png")
            Image.fromarray(r256).save(tmp_path / f"{key}_256.png")
            rows.append(
                {
                    "key": key,
                    "prompt_id": f"p{p}",
                    "prompt": prompt,
                    "seed": seed,
                    "random_weights": True,
                    "path_64": str(tmp_path / f"{key}_64.png"),
                    "path_256": str(tmp_path / f"{key}_256.png"),
                    "path_source": str(source_path),
                    "path_mask": str(mask_path),
                }
            )
    return source, pd.DataFrame(rows)


@pytest.fixture
def scored(inpainting_run, scorer_cfg, tmp_path):
    source, samples = inpainting_run
    cfg = {**scorer_cfg, "inpaint": {"bootstrap": {"resamples": 200}}}
    (scorer,) = build_scorers(["inpaint"], cfg, cache_dir=tmp_path / "cache")
    return source, samples, scorer.score(samples)


def read(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)


@pytest.mark.parametrize(("stage", "size", "keep"), [("64", 64, keep_64), ("256", 256, keep_256)])
def test_known_region_psnr_and_mse_equal_skimage_on_the_known_pixels(scored, stage, size, keep):
    source, samples, result = scored
    reference = bicubic(source, size)
    for i, row in samples.iterrows():
        pixels = read(row[f"path_{stage}"])
        kept_ref, kept = reference[keep()], pixels[keep()]
        mse = np.mean((kept.astype(float) - kept_ref.astype(float)) ** 2)
        assert result.columns.loc[i, f"inpaint.known_mse_{stage}"] == pytest.approx(mse, rel=1e-12)
        psnr = result.columns.loc[i, f"inpaint.known_psnr_{stage}"]
        if row["seed"] == 0:
            assert mse == 0 and psnr == math.inf
        else:
            assert psnr == pytest.approx(peak_signal_noise_ratio(kept_ref, kept, data_range=255), rel=1e-10)


def test_run_metrics_give_the_exact_share_and_the_worst_inexact_psnr(scored):
    _, samples, result = scored
    columns, metrics = result.columns, result.metrics
    for stage in ("64", "256"):
        assert metrics[f"inpaint/known_exact_{stage}"] == 0.5
        inexact = columns.loc[samples["seed"] == 1, f"inpaint.known_psnr_{stage}"]
        assert metrics[f"inpaint/known_psnr_{stage}_min"] == pytest.approx(inexact.min())
        assert metrics[f"inpaint/known_mse_{stage}_max"] == pytest.approx(columns[f"inpaint.known_mse_{stage}"].max())


def test_known_region_lpips_equals_lpips_called_directly_on_the_hole_filled_result(scored):
    source, samples, result = scored
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False).eval()

    def tensor(pixels: np.ndarray) -> torch.Tensor:
        return torch.tensor(pixels, dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1

    for i, row in samples.iterrows():
        reference = bicubic(source, 256)
        filled = np.where(keep_256()[..., None], read(row["path_256"]), reference)
        with torch.no_grad():
            expected = float(net(tensor(filled), tensor(reference)))
        assert result.columns.loc[i, "inpaint.known_lpips_256"] == pytest.approx(expected, rel=1e-5, abs=1e-7)
        if row["seed"] == 0:
            assert expected == 0.0  # the known pixels are the source's: nothing differs
        else:
            assert expected > 0.0


def test_clip_similarity_is_that_of_the_repainted_box_crop(scored, clip_by_hand, tmp_path):
    _, samples, result = scored
    crops = []
    for _, row in samples.iterrows():
        rows, cols = HOLE_64
        box = (cols.start * 4, rows.start * 4, cols.stop * 4, rows.stop * 4)
        path = tmp_path / f"crop_{row['key']}.png"
        Image.open(row["path_256"]).convert("RGB").crop(box).save(path)
        crops.append(path)
    cos = (clip_by_hand(paths=crops) * clip_by_hand(texts=list(samples["prompt"]))).sum(axis=1)
    np.testing.assert_allclose(result.columns["inpaint.clip_cos"], cos, atol=1e-5)
    np.testing.assert_allclose(result.columns["inpaint.clip_score"], 100 * np.clip(cos, 0, None), atol=1e-3)
    prompt_means = [100 * np.clip(cos[samples["prompt_id"] == p], 0, None).mean() for p in ("p0", "p1")]
    assert result.metrics["inpaint/clip_score_mean"] == pytest.approx(np.mean(prompt_means), abs=1e-3)


def test_an_unknown_lpips_net_is_refused_naming_the_key(scorer_cfg, tmp_path):
    with pytest.raises(ScorerConfigError, match=r"scorer\.inpaint\.lpips_net: 'resnet'"):
        build_scorers(["inpaint"], {**scorer_cfg, "inpaint": {"lpips_net": "resnet"}}, cache_dir=tmp_path)
