"""FID/KID scorer on groups of samples, plus the CLIP-feature Fréchet distance and CMMD.

Groups: the whole run ("all") and one group per value of each configured samples column (tag.style, ...).
Set metrics get no interval: resampling intervals of FID do not cover (docs/scorers.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import WHOLE_RUN, FidConfig
from harness.scorers.distances import (
    GaussianReference,
    KidEstimate,
    cmmd,
    enough_for_covariance,
    frechet_to_reference,
    gaussian_moments,
    kid,
)
from harness.scorers.fid_features import ImageFeatures, extractor_weights
from harness.scorers.grouping import column_groups
from harness.scorers.reference import ReferenceStats, load_stats
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.weights import WeightFile

log = logging.getLogger(__name__)

_GROUP_METRICS = ("fid", "kid_mean", "kid_std", "kid_subsets", "kid_subset_size", "clip_fd", "cmmd")


def check_sources(config: FidConfig) -> None:
    """The checks of scorer.fid that read files or import code: run when the scorer is built, not whenever a
    config is typed (every run's config holds these options, most runs never use them)."""
    where = config.WHERE
    config.extractor.check(where)
    config.cmmd.check(f"{where}.cmmd")
    config.reference.check(f"{where}.reference")
    if config.reference.stats is not None:
        reference_stats(config)


def reference_stats(config: FidConfig) -> ReferenceStats:
    """The checked statistics file of `scorer.fid.reference.stats` (layout, dimension, provenance)."""
    return load_stats(
        config.reference.stats,
        config.extractor,
        f"{config.WHERE}.reference.stats",
        trust_foreign=config.reference.trust_foreign_stats,
    )


@dataclass(frozen=True)
class Reference:
    """Reference features (None where the source cannot give them) and their Gaussian moments."""

    n: int | None
    features: np.ndarray | None
    gauss: GaussianReference | None
    clip: np.ndarray | None
    clip_gauss: GaussianReference | None


@dataclass(frozen=True)
class Group:
    label: str  # "all" or "<column>=<value>"
    positions: np.ndarray

    @property
    def suffix(self) -> str:
        return "" if self.label == WHOLE_RUN else f"[{self.label}]"


def group_metrics(
    gen: np.ndarray, gen_clip: np.ndarray, ref: Reference, config: FidConfig, label: str
) -> tuple[dict[str, float | None], list[str]]:
    """FID, KID (with the subsets' count and size used), CLIP-FD and CMMD of one group against the reference."""
    values: dict[str, float | None] = dict.fromkeys(_GROUP_METRICS)
    notes: list[str] = []
    n = len(gen)
    for name, features in (("features", gen), ("CLIP embeddings", gen_clip)):
        if features is not None and not np.isfinite(features).all():
            notes.append(f"fid[{label}]: the samples' {name} are not all finite; nothing computed")
            return values, notes
    if ref.gauss is not None:
        if not enough_for_covariance(n, ref.gauss.dim):
            notes.append(f"fid[{label}]: {n} images < {ref.gauss.dim + 1} (feature dims + 1); FID not computed")
        else:
            values["fid"] = frechet_to_reference(*gaussian_moments(gen), ref.gauss)
    if ref.features is not None:
        # KID's estimator is unbiased at any subset size; the configured size is a ceiling, not a floor.
        size = min(n, len(ref.features), config.kid_subset_size)
        if size < 2:
            notes.append(f"fid[{label}]: {n} images ({len(ref.features)} reference); KID needs 2 of each")
        else:
            estimate = kid(ref.features, gen, subsets=config.kid_subsets, subset_size=size, seed=config.subset_seed)
            values["kid_mean"], values["kid_std"] = estimate.mean, estimate.std
            values["kid_subsets"], values["kid_subset_size"] = float(estimate.subsets), float(size)
            if estimate.std is None:
                notes.append(f"fid[{label}]: {kid_spread_note(estimate, n, len(ref.features))}; no kid_std")
    if ref.clip is not None:
        dim = ref.clip.shape[1]
        if ref.clip_gauss is not None and enough_for_covariance(n, dim):
            values["clip_fd"] = frechet_to_reference(*gaussian_moments(gen_clip), ref.clip_gauss)
        else:
            notes.append(f"fid[{label}]: CLIP-FD needs {dim + 1} (CLIP dims + 1) images in each set; not computed")
        if n >= 2 and len(ref.clip) >= 2:
            values["cmmd"] = cmmd(gen_clip, ref.clip, sigma=config.cmmd.sigma, scale=config.cmmd.scale)
        else:
            notes.append(f"fid[{label}]: {n} image(s); CMMD needs at least 2 in each set")
    return values, notes


def kid_spread_note(estimate: KidEstimate, n: int, n_ref: int) -> str:
    """Why KID has a single estimate: every subset is the whole of both sets, or one subset was asked for."""
    if estimate.subsets == 1 and estimate.subset_size == n == n_ref:
        return f"every KID subset would be the whole set ({n} generated, {n_ref} reference images), so KID is one MMD^2"
    return "one KID subset (scorer.fid.kid_subsets=1)"


class FidScorer:
    name = "fid"

    def __init__(self, config: FidConfig, encoder: ClipEncoder, *, cache_dir: Path | None, device: str) -> None:
        check_sources(config)
        self.config = config
        cmmd_config = config.cmmd_clip_config()
        # One embedding per image and model: the shared CLIP serves CMMD when it is the same model.
        same = encoder.model_id == cmmd_config.model_id
        self.encoder = encoder if same else ClipEncoder(cmmd_config, cache_dir=cache_dir, device=device)
        self.features = ImageFeatures(config.extractor, cache_dir=cache_dir, device=device)

    def weights(self) -> tuple[WeightFile, ...]:
        """The Inception weights and the CMMD CLIP's."""
        return (*extractor_weights(self.config.extractor), *self.encoder.weights())

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, ("key", "path_256", "prompt"), self.name)
        paths, keys = list(samples["path_256"]), list(samples["key"])
        gen = self.features.features(paths, keys)
        gen_clip = self.encoder.image_embeddings(paths, keys)
        ref, notes = self._reference(list(samples["prompt"]))
        groups, more = self._groups(samples)
        notes += more
        extractor = self.config.extractor
        pipeline = {
            "feature_extractor": extractor.name,
            "resize_mode": extractor.resize_mode.value,
            "image_size": extractor.pixel_size,
            "cmmd_model": f"{self.config.cmmd.model}:{self.config.cmmd.pretrained}",
        }
        notes.insert(0, "fid: " + ", ".join(f"{k}={v}" for k, v in pipeline.items()) + "; no intervals (set metrics)")

        metrics: dict[str, float | None] = {"fid/n_ref": None if ref.n is None else float(ref.n)}
        rows = []
        for group in groups:
            n, values, group_notes = self._score_group(group, keys, gen, gen_clip, ref)
            notes += group_notes
            metrics[f"fid/n{group.suffix}"] = n
            metrics.update({f"fid/{name}{group.suffix}": value for name, value in values.items()})
            rows.append(
                {
                    "group": group.label,
                    "n": n,
                    "n_ref": ref.n,
                    **values,
                    **pipeline,
                    "note": "; ".join(group_notes) or None,
                }
            )
        return ScoreResult(pd.DataFrame(index=samples.index), metrics, {"fid/groups": pd.DataFrame(rows)}, notes)

    def _score_group(
        self, group: Group, keys: list[str], gen: np.ndarray, gen_clip: np.ndarray, ref: Reference
    ) -> tuple[float | None, dict[str, float | None], list[str]]:
        """(number of images scored, metric values, notes) of one group; None values where not computed."""
        notes: list[str] = []
        positions = self._subset(group, keys, notes)
        if positions is None:
            return None, dict.fromkeys(_GROUP_METRICS), notes
        values, more = group_metrics(gen[positions], gen_clip[positions], ref, self.config, group.label)
        return float(len(positions)), values, notes + more

    def _reference(self, prompts: list[str]) -> tuple[Reference, list[str]]:
        source = self.config.reference
        if source.stats is not None:
            stats = reference_stats(self.config)
            note = "fid: the reference is precomputed statistics; KID, CLIP-FD and CMMD need reference images"
            gauss = GaussianReference.from_moments(stats.mu, stats.sigma)
            return Reference(stats.n, None, gauss, None, None), [*stats.notes, note]
        images = source.images(prompts)
        notes = list(images.notes)
        if not images.paths:
            return Reference(0, None, None, None, None), [*notes, "fid: no reference images; nothing computed"]
        paths, keys = list(images.paths), list(images.keys)
        features = self.features.features(paths, keys)
        clip = self.encoder.image_embeddings(paths, keys)
        if not (np.isfinite(features).all() and np.isfinite(clip).all()):
            note = "fid: the reference images' features are not all finite; nothing computed"
            return Reference(0, None, None, None, None), [*notes, note]
        n, dim = features.shape
        gauss = None
        if not enough_for_covariance(n, dim):
            notes.append(f"fid: the reference has {n} images < {dim + 1} (feature dims + 1); FID not computed")
        else:
            gauss = GaussianReference.from_moments(*gaussian_moments(features))
        clip_gauss = None
        if enough_for_covariance(n, clip.shape[1]):
            clip_gauss = GaussianReference.from_moments(*gaussian_moments(clip))
        return Reference(n, features, gauss, clip, clip_gauss), notes

    def _groups(self, samples: pd.DataFrame) -> tuple[list[Group], list[str]]:
        groups, notes = [], []
        for spec in self.config.groups:
            if spec == WHOLE_RUN:
                groups.append(Group(WHOLE_RUN, np.arange(len(samples))))
            elif spec not in samples.columns:
                notes.append(f"fid: group column {spec!r} is not in the samples table; skipped")
            else:
                for value, mask in column_groups(samples[spec]):
                    groups.append(Group(f"{spec}={value}", np.flatnonzero(mask)))
        return groups, notes

    def _subset(self, group: Group, keys: list[str], notes: list[str]) -> np.ndarray | None:
        """All of the group, or `subset_size` of it drawn with `subset_seed` (independent of row order)."""
        size = self.config.subset_size
        if size is None:
            return group.positions
        if len(group.positions) < size:
            notes.append(f"fid[{group.label}]: {len(group.positions)} images < subset_size {size}; not scored")
            return None
        ordered = sorted(group.positions, key=lambda p: (keys[p], p))
        rng = np.random.default_rng(self.config.subset_seed)
        return np.sort(rng.choice(np.asarray(ordered), size, replace=False))
