"""Sampler fidelity: every point of a sampler sweep against the sweep's reference point at equal prompts and seeds.

Per seed LPIPS and CLIP cosine to the reference image, per set FID and CLIP-FD, paired score differences
against the reference's own seed-to-seed spread, and UNet forwards and seconds per image (fidelity.parquet).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from harness.glide.respacing import space_timesteps
from harness.io import write_parquet
from harness.rundir import RunDir, finished_job_dirs
from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import ClipConfig, ExtractorConfig
from harness.scorers.distances import enough_for_covariance, frechet_distance, gaussian_moments
from harness.scorers.fid_features import ImageFeatures
from harness.scorers.images import load_rgb
from harness.scorers.options import BootstrapOptions
from harness.scorers.perceptual import lpips_network
from harness.scorers.stats import cluster_means, paired_comparison, prompt_mean

log = logging.getLogger(__name__)

FIDELITY = "fidelity.parquet"
FIDELITY_TABLE = "fidelity"
# The sampler settings that name a point of the grid.
POINT_KEYS = ("sampler.base_loop", "sampler.base_steps", "sampler.upsample_loop", "sampler.upsample_steps")
DIFFUSION_STEPS = 1000  # both released models
TINY_FEATURES = "harness.scorers.tiny_features:TinyFeatures"


@dataclass
class Point:
    """One job of the sweep: its sampler settings, scored samples and config."""

    job: int
    label: str
    config: Any
    samples: pd.DataFrame
    sampling: Mapping[str, Any]


def load_points(sweep_dir: Path) -> list[Point]:
    points = []
    for job_dir in finished_job_dirs(Path(sweep_dir)):
        run = RunDir(job_dir)
        config = OmegaConf.create(run.hydra_config() or {})
        label = " ".join(f"{k.split('.')[-1]}={OmegaConf.select(config, k)}" for k in POINT_KEYS)
        sampling = run.summary.run.get("sampling") or {}
        points.append(Point(int(job_dir.name), label, config, run.samples(), sampling))
    return points


def reference_of(config: Any) -> dict[str, str]:
    """The `fidelity.reference` node of a job's config (empty: the sweep names no reference point)."""
    node = OmegaConf.select(config, "fidelity.reference", default=None)
    return {str(k): str(v) for k, v in (OmegaConf.to_container(node) if node is not None else {}).items()}


def is_reference(point: Point, reference: Mapping[str, str]) -> bool:
    return all(str(OmegaConf.select(point.config, key)) == value for key, value in reference.items())


def image_tensor(path: str | Path) -> torch.Tensor:
    """A PNG as (3, H, W) float in [-1, 1], the range LPIPS takes."""
    return torch.from_numpy(np.asarray(load_rgb(path), dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1.0


def lpips_distances(model: torch.nn.Module, paths_a: Sequence[str], paths_b: Sequence[str]) -> np.ndarray:
    out = []
    with torch.no_grad():
        for a, b in zip(paths_a, paths_b, strict=True):
            out.append(float(model(image_tensor(a)[None], image_tensor(b)[None]).flatten()[0]))
    return np.asarray(out, dtype=np.float64)


def frechet(a: np.ndarray, b: np.ndarray) -> tuple[float | None, str]:
    """Fréchet distance between two feature sets, None (with why) below n >= dim + 1 images per set."""
    n, dim = min(len(a), len(b)), a.shape[1]
    if not enough_for_covariance(n, dim):
        return None, f"{n} images per set < {dim} feature dims + 1"
    return frechet_distance(*gaussian_moments(a), *gaussian_moments(b)), ""


def seed_spread(samples: pd.DataFrame, metric: str) -> float:
    """The reference's seed-to-seed spread of `metric`: per prompt, the standard deviation (ddof 1) over its
    seeds; averaged over prompts (prompts with one seed have none and are left out)."""
    sd = samples.groupby("prompt_id")[metric].std(ddof=1).dropna()
    return float(sd.mean()) if len(sd) else float("nan")


def per_image(point: Point, stage: str, peers: Sequence[Point]) -> float:
    """UNet forwards per image of a stage: counted calls over images sampled (one call per image with
    sampler.per_sample), from this job or a job with the same stage settings; where every job found the stage
    in the store, its kept timesteps (each loop calls the UNet once per kept timestep)."""
    keys = [k for k in POINT_KEYS if k.startswith(f"sampler.{stage}")]
    mine = [OmegaConf.select(point.config, k) for k in keys]
    for p in (point, *peers):
        sampled = p.sampling.get(f"{stage}_sampled", 0)
        if sampled and [OmegaConf.select(p.config, k) for k in keys] == mine:
            return p.sampling.get(f"{stage}_forwards", 0) / sampled
    return float(len(space_timesteps(DIFFUSION_STEPS, str(OmegaConf.select(point.config, f"sampler.{stage}_steps")))))


def score_columns(samples: pd.DataFrame) -> list[str]:
    return [
        c
        for c in samples.columns
        if "." in c and not c.startswith("tag.") and pd.api.types.is_numeric_dtype(samples[c])
        and not pd.api.types.is_bool_dtype(samples[c])
    ]  # fmt: skip


def fidelity_table(
    points: Sequence[Point], reference: Point, *, lpips_model: torch.nn.Module, clip: ClipEncoder,
    features: ImageFeatures, options: BootstrapOptions,
) -> pd.DataFrame:  # fmt: skip
    """One row per point (the reference included): fidelity to the reference, cost, and whether it qualifies."""
    ref = reference.samples.set_index(["prompt_id", "seed"]).sort_index()
    metrics = score_columns(reference.samples)
    spreads = {m: seed_spread(reference.samples, m) for m in metrics}
    rows = []
    for point in points:
        mine = point.samples.set_index(["prompt_id", "seed"]).sort_index()
        pairs = mine.index.intersection(ref.index)
        a, b = ref.loc[pairs], mine.loc[pairs]
        prompts = np.asarray(pairs.get_level_values(0))
        lp = lpips_distances(lpips_model, list(a["path_256"]), list(b["path_256"]))
        emb_a = clip.image_embeddings(list(a["path_256"]), list(a["key"]))
        emb_b = clip.image_embeddings(list(b["path_256"]), list(b["key"]))
        cos = np.sum(emb_a * emb_b, axis=1)
        clip_fd, clip_note = frechet(emb_a, emb_b)
        fid, fid_note = frechet(
            features.features(list(a["path_256"]), list(a["key"])),
            features.features(list(b["path_256"]), list(b["key"])),
        )
        row: dict[str, Any] = {"job": point.job, "point": point.label, "reference": point is reference}
        row.update({k: str(OmegaConf.select(point.config, k)) for k in POINT_KEYS})
        row["n_prompts"], row["n_pairs"] = len(set(prompts)), len(pairs)
        for name, values in (("lpips", lp), ("clip_cosine", cos)):
            mean, low, high, _ = prompt_mean(values, prompts, options)
            row.update({name: mean, f"{name}_ci_low": low, f"{name}_ci_high": high})
        row.update({"fid": fid, "clip_fd": clip_fd, "note": "; ".join(n for n in (fid_note and f"fid: {fid_note}",
                    clip_note and f"clip_fd: {clip_note}") if n)})  # fmt: skip
        within = True
        for m in metrics:
            diff = paired_comparison(a[m], b[m], options).diff if m in b else float("nan")
            row[f"diff.{m}"], row[f"spread.{m}"] = diff, spreads[m]
            within = within and bool(np.isfinite(diff) and abs(diff) <= spreads[m])
        base, up = per_image(point, "base", points), per_image(point, "upsample", points)
        row.update({"base_forwards": base, "upsample_forwards": up, "forwards_per_image": base + up})
        row["seconds_per_image"] = float(
            cluster_means((b["time_base_s"] + b["time_up_s"]).to_numpy(dtype=np.float64), prompts).mean()
        ) if len(b) else float("nan")  # fmt: skip
        row["within_spread"] = within and bool(metrics)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["cheapest"] = False
    qualified = table[table["within_spread"] & ~table["reference"] & np.isfinite(table["forwards_per_image"])]
    if len(qualified):
        table.loc[qualified["forwards_per_image"].idxmin(), "cheapest"] = True
    return table


def summarise_fidelity(sweep_dir: Path) -> pd.DataFrame | None:
    """Write fidelity.parquet for a sweep whose config names `fidelity.reference`; None when it names none."""
    points = load_points(sweep_dir)
    if not points:
        return None
    reference_keys = reference_of(points[0].config)
    if not reference_keys:
        return None
    matches = [p for p in points if is_reference(p, reference_keys)]
    if not matches:
        log.warning("fidelity: no job of %s has the reference settings %s", sweep_dir, reference_keys)
        return None
    config = points[0].config
    device = "cuda" if torch.cuda.is_available() else "cpu"
    random_weights = OmegaConf.select(config, "model.weights") == "random"
    net = OmegaConf.select(config, "fidelity.lpips_net", default="alex")
    backbone = OmegaConf.select(config, "fidelity.lpips_backbone", default="auto")
    extractor = OmegaConf.select(config, "fidelity.fid_features", default="auto")
    if extractor == "auto":
        extractor = TINY_FEATURES if random_weights else "inception"
    clip_node = OmegaConf.to_container(OmegaConf.select(config, "scorer.clip"), resolve=True)
    table = fidelity_table(
        points,
        matches[0],
        lpips_model=lpips_network(net, backbone, random_weights),
        clip=ClipEncoder(ClipConfig.from_mapping(clip_node), cache_dir=None, device=device),
        features=ImageFeatures(ExtractorConfig(feature_extractor=extractor), cache_dir=None, device=device),
        options=BootstrapOptions(),
    )
    write_parquet(Path(sweep_dir) / FIDELITY, table)
    cheapest = table[table["cheapest"]]
    log.info("fidelity: %s", f"cheapest point within the reference's spread: {cheapest['point'].iloc[0]}"
             if len(cheapest) else "no point is within the reference's seed-to-seed spread")  # fmt: skip
    return table


def read_fidelity(sweep_dir: Path) -> pd.DataFrame | None:
    path = Path(sweep_dir) / FIDELITY
    return pd.read_parquet(path) if path.is_file() else None
