"""Sampler fidelity: every point of a sampler sweep against the sweep's reference point at equal prompts and seeds.

Per seed LPIPS and CLIP cosine to the reference image, per set FID and CLIP-FD, an equivalence test (TOST over
prompts) of LPIPS and of each paired score difference against the reference's own seed-to-seed spread, and UNet
forwards and seconds per image (fidelity.parquet); the cheapest point is chosen among those shown equivalent.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from harness.config.schema import RunConfig
from harness.glide.respacing import space_timesteps
from harness.io import write_parquet
from harness.run.rundir import RunDir, finished_job_dirs
from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import ExtractorConfig
from harness.scorers.distances import enough_for_covariance, frechet_distance, gaussian_moments
from harness.scorers.fid_features import ImageFeatures
from harness.scorers.images import load_rgb
from harness.scorers.options import BootstrapOptions
from harness.scorers.perceptual import lpips_network
from harness.scorers.stats import cluster_means, mean_interval, min_units, prompt_differences, prompt_mean

log = logging.getLogger(__name__)

FIDELITY = "fidelity.parquet"
FIDELITY_TABLE = "fidelity"
# The sampler settings that name a point of the grid.
POINT_KEYS = ("sampler.base_loop", "sampler.base_steps", "sampler.upsample_loop", "sampler.upsample_steps")
DIFFUSION_STEPS = 1000  # both released models
TINY_FEATURES = "harness.scorers.tiny_features:TinyFeatures"
# Level of each one-sided test of the equivalence test: a point passes when its (1 - 2 * ALPHA) interval lies
# inside (-margin, +margin). A point passes only when every quantity passes (an intersection-union test), so
# the family needs no multiplicity adjustment: P(a non-equivalent point passes) <= ALPHA.
ALPHA = 0.05
# Fewest seeds per prompt the reference's spread (the margin) is measured over. The TOST takes the measured
# margin as given; against the true spread its size grows with the margin's own noise. Simulated at 8 prompts
# (the seed study), normal scores, a point planted at the true spread whose per-prompt differences vary half
# as much as a seed: size 0.104 with the margin from 2 seeds, 0.083 from 3, 0.073 from 4, 0.059 from 8
# (3,000 data sets each, Monte-Carlo SE 0.005). 2 seeds also give each prompt one degree of freedom.
MIN_SPREAD_SEEDS = 4
REFERENCE_VERDICT = "reference"
EQUIVALENT = "equivalent"
CANNOT_SHOW = "cannot show equivalence at this n"
NOT_SHOWN = "not shown equivalent"


@dataclass
class Point:
    """One job of the sweep: its sampler settings, scored samples and typed config."""

    job: int
    label: str
    config: RunConfig
    samples: pd.DataFrame
    sampling: Mapping[str, Any]


def load_points(sweep_dir: Path) -> list[Point]:
    points = []
    for job_dir in finished_job_dirs(Path(sweep_dir)):
        run = RunDir(job_dir)
        config = run.run_config() or RunConfig()
        label = " ".join(f"{k.split('.')[-1]}={config_value(config, k)}" for k in POINT_KEYS)
        sampling = run.summary.run.get("sampling") or {}
        points.append(Point(int(job_dir.name), label, config, run.samples(), sampling))
    return points


def config_value(config: RunConfig, key: str) -> Any:
    """The value at a dotted key of a typed config (`sampler.base_steps`); None where there is no such key."""
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
    return value


def reference_of(config: RunConfig) -> dict[str, str]:
    """The `fidelity.reference` node of a job's config (empty: the sweep names no reference point)."""
    return {str(k): str(v) for k, v in config.fidelity.reference.items()}


def is_reference(point: Point, reference: Mapping[str, str]) -> bool:
    return all(str(config_value(point.config, key)) == value for key, value in reference.items())


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
    """The reference's seed-to-seed spread of `metric`: the pooled within-prompt standard deviation, i.e. the
    square root of the mean over prompts of each prompt's variance (ddof 1) over its seeds (prompts with one
    seed have none and are left out). Pooled variances estimate the seed SD whatever the number of seeds; a
    mean of per-prompt SDs would shrink with fewer seeds (by c4: 0.80 of it at 2 seeds)."""
    var = samples.groupby("prompt_id")[metric].var(ddof=1).dropna()
    return float(np.sqrt(var.mean())) if len(var) else float("nan")


def lpips_seed_spread(model: torch.nn.Module, samples: pd.DataFrame) -> float:
    """The reference's seed-to-seed spread in LPIPS: per prompt, the mean LPIPS between its 256 px images of
    every pair of distinct seeds; mean over prompts (prompts with one seed have no pair and are left out)."""
    per_prompt = []
    for _, group in samples.groupby("prompt_id"):
        pairs = list(itertools.combinations(group.sort_values("seed")["path_256"], 2))
        if pairs:
            per_prompt.append(lpips_distances(model, [a for a, _ in pairs], [b for _, b in pairs]).mean())
    return float(np.mean(per_prompt)) if per_prompt else float("nan")


def fewest_seeds(samples: pd.DataFrame) -> int:
    """The fewest seeds any prompt of `samples` has: what the reference's spread is measured over."""
    return int(samples.groupby("prompt_id")["seed"].nunique().min()) if len(samples) else 0


@dataclass(frozen=True)
class Equivalence:
    """One quantity of one point against the reference: the mean over prompts of the per-prompt difference,
    its (1 - 2 * alpha) interval, the margin, and the decision (with why, where the design cannot decide)."""

    diff: float
    low: float
    high: float
    margin: float
    n_prompts: int
    equivalent: bool
    reason: str


def tost(
    d: np.ndarray, margin: np.ndarray | float, options: BootstrapOptions, alpha: float = ALPHA
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two one-sided tests of |mean(d)| < margin over the last axis of the per-prompt differences `d`.

    Both one-sided tests at level alpha reject exactly when the (1 - 2 * alpha) interval of the mean lies inside
    (-margin, +margin). The interval is the project's interval of a mean (`mean_interval`: the hull of Student t
    and bootstrap-t), so each one-sided test is the t-test and the bootstrap-t test together: at 8 prompts with
    a point planted at the margin, the t-test alone passed lognormal(sigma=0.5) per-prompt values (LPIPS is
    skewed) 0.11 of the time, the hull 0.078; normal values 0.049 and 0.040 (2,000 data sets each). Returns
    (low, high, passed).
    """
    low, high = mean_interval(d, replace(options, level=1 - 2 * alpha))
    margin = np.asarray(margin, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        passed = (low > -margin) & (high < margin)
    return low, high, passed


def equivalence(
    d: np.ndarray, margin: float, seeds: int, options: BootstrapOptions, alpha: float = ALPHA
) -> Equivalence:
    """TOST of the per-prompt differences `d` (point minus reference, one per prompt) against `margin`, the
    reference's seed-to-seed spread of the quantity measured over `seeds` seeds per prompt (the fewest of any
    prompt). Where the design cannot support equivalence (fewer than MIN_SPREAD_SEEDS seeds, fewer prompts than
    an interval is shown for, no spread) the decision is False with the reason, never equivalent."""
    d = np.asarray(d, dtype=np.float64)
    d = d[np.isfinite(d)]
    j, floor = len(d), min_units(options)
    mean = float(d.mean()) if j else float("nan")
    reason = ""
    if seeds < MIN_SPREAD_SEEDS:
        reason = f"the reference's spread is from {seeds} seed(s) per prompt, fewer than {MIN_SPREAD_SEEDS}"
    elif j < floor:
        reason = f"{j} prompt(s), fewer than the {floor} an interval needs"
    elif not (np.isfinite(margin) and margin > 0):
        reason = f"the reference's seed-to-seed spread is {margin}, no margin to test against"
    if reason:
        return Equivalence(mean, float("nan"), float("nan"), margin, j, False, reason)
    low, high, passed = tost(d, margin, options, alpha)
    return Equivalence(mean, float(low), float(high), margin, j, bool(passed), "")


def point_verdict(tests: Mapping[str, Equivalence]) -> tuple[bool, str]:
    """(equivalent, verdict) of a point from its quantities' tests: equivalent only when every one passes."""
    reasons = list(dict.fromkeys(t.reason for t in tests.values() if t.reason))
    if not tests:
        return False, f"{CANNOT_SHOW}: no quantity to test"
    if reasons:
        return False, f"{CANNOT_SHOW}: {'; '.join(reasons)}"
    failing = [name for name, t in tests.items() if not t.equivalent]
    if failing:
        return False, f"{NOT_SHOWN}: {', '.join(failing)}"
    return True, EQUIVALENT


def mark_cheapest(table: pd.DataFrame) -> pd.DataFrame:
    """Set `cheapest` on the point with the fewest forwards per image among those shown equivalent (never the
    reference); no point when none passes."""
    table["cheapest"] = False
    passed = table[table["equivalent"] & ~table["reference"] & np.isfinite(table["forwards_per_image"])]
    if len(passed):
        table.loc[passed["forwards_per_image"].idxmin(), "cheapest"] = True
    return table


def per_image(point: Point, stage: str, peers: Sequence[Point]) -> float:
    """UNet forwards per image of a stage: counted calls over images sampled (one call per image with
    sampler.per_sample), from this job or a job with the same stage settings; where every job found the stage
    in the store, its kept timesteps (each loop calls the UNet once per kept timestep)."""
    keys = [k for k in POINT_KEYS if k.startswith(f"sampler.{stage}")]
    mine = [config_value(point.config, k) for k in keys]
    for p in (point, *peers):
        sampled = p.sampling.get(f"{stage}_sampled", 0)
        if sampled and [config_value(p.config, k) for k in keys] == mine:
            return p.sampling.get(f"{stage}_forwards", 0) / sampled
    return float(len(space_timesteps(DIFFUSION_STEPS, getattr(point.config.sampler, f"{stage}_steps"))))


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
    """One row per point (the reference included): fidelity to the reference, cost, and the equivalence test.

    Tested per point, prompts as units: LPIPS to the reference's image of the same seed (per prompt, its mean
    over seeds) against the reference's LPIPS between seeds (`lpips_seed_spread`), and each score's paired
    difference (point minus reference, per prompt with its seeds averaged) against the reference's pooled seed
    SD of that score (`seed_spread`). Columns per quantity q: diff.q, spread.q (the margin), eq_low.q and
    eq_high.q (the (1 - 2 * ALPHA) interval), equivalent.q; per point: equivalent, verdict, cheapest.
    """
    ref = reference.samples.set_index(["prompt_id", "seed"]).sort_index()
    metrics = score_columns(reference.samples)
    seeds = fewest_seeds(reference.samples)
    spreads = {"lpips": lpips_seed_spread(lpips_model, reference.samples)}
    spreads.update({m: seed_spread(reference.samples, m) for m in metrics})
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
        row.update({k: str(config_value(point.config, k)) for k in POINT_KEYS})
        row["n_prompts"], row["n_pairs"], row["spread_seeds"] = len(set(prompts)), len(pairs), seeds
        for name, values in (("lpips", lp), ("clip_cosine", cos)):
            mean, low, high, _ = prompt_mean(values, prompts, options)
            row.update({name: mean, f"{name}_ci_low": low, f"{name}_ci_high": high})
        row.update({"fid": fid, "clip_fd": clip_fd, "note": "; ".join(n for n in (fid_note and f"fid: {fid_note}",
                    clip_note and f"clip_fd: {clip_note}") if n)})  # fmt: skip
        differences = {"lpips": cluster_means(lp, prompts) if len(lp) else np.empty(0)}
        differences.update({m: prompt_differences(a[m], b[m]) if m in b else np.empty(0) for m in metrics})
        tests = {q: equivalence(d, spreads[q], seeds, options) for q, d in differences.items()}
        for q, t in tests.items():
            row.update({f"diff.{q}": t.diff, f"spread.{q}": t.margin, f"eq_low.{q}": t.low,
                        f"eq_high.{q}": t.high, f"equivalent.{q}": t.equivalent})  # fmt: skip
        base, up = per_image(point, "base", points), per_image(point, "upsample", points)
        row.update({"base_forwards": base, "upsample_forwards": up, "forwards_per_image": base + up})
        row["seconds_per_image"] = float(
            cluster_means((b["time_base_s"] + b["time_up_s"]).to_numpy(dtype=np.float64), prompts).mean()
        ) if len(b) else float("nan")  # fmt: skip
        row["equivalent"], row["verdict"] = point_verdict(tests)
        if row["reference"]:  # the margin's source, not a candidate
            row["equivalent"], row["verdict"] = False, REFERENCE_VERDICT
        rows.append(row)
    return mark_cheapest(pd.DataFrame(rows))


def cheapest_line(table: pd.DataFrame) -> str:
    """The log line of the choice: the cheapest equivalent point, or why there is none."""
    cheapest = table[table["cheapest"]]
    if len(cheapest):
        return f"cheapest point shown equivalent to the reference: {cheapest['point'].iloc[0]}"
    verdicts = table.loc[~table["reference"], "verdict"].value_counts()
    why = "; ".join(f"{n} point(s): {verdict}" for verdict, n in verdicts.items()) or "no point besides the reference"
    return f"no point is shown equivalent to the reference (TOST at alpha {ALPHA}), so none is cheapest: {why}"


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
    # Random-weight models and the toy world get the seeded random LPIPS backbone and the tiny FID features under
    # `auto`: neither makes the photographs the pretrained networks were trained on, and both run offline (the
    # pretrained ones would be downloaded).
    offline = config.model.weights in ("random", "toy")
    extractor = config.fidelity.fid_features
    if extractor == "auto":
        extractor = TINY_FEATURES if offline else "inception"
    table = fidelity_table(
        points,
        matches[0],
        lpips_model=lpips_network(config.fidelity.lpips_net, config.fidelity.lpips_backbone, offline),
        clip=ClipEncoder(config.scorer.clip, cache_dir=None, device=device),
        features=ImageFeatures(ExtractorConfig(feature_extractor=extractor), cache_dir=None, device=device),
        options=BootstrapOptions(),
    )
    write_parquet(Path(sweep_dir) / FIDELITY, table)
    log.info("fidelity: %s", cheapest_line(table))
    return table


def read_fidelity(sweep_dir: Path) -> pd.DataFrame | None:
    path = Path(sweep_dir) / FIDELITY
    return pd.read_parquet(path) if path.is_file() else None
