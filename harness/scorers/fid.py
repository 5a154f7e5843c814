"""FID/KID scorer on groups of samples, plus the CLIP-feature Fréchet distance and CMMD for small sets.

Groups: the whole run ("all") and one group per value of each configured samples column (tag.style, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.distances import GaussianReference, cmmd, frechet_to_reference, gaussian_moments, kid
from harness.scorers.fid_features import ExtractorConfig, ImageFeatures, feature_dim
from harness.scorers.grouping import column_groups
from harness.scorers.options import (
    BootstrapOptions,
    ScorerConfigError,
    check_keys,
    integer,
    optional_integer,
    positive_number,
    text_list,
)
from harness.scorers.reference import ReferenceConfig, load_stats
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import bootstrap_statistic_ci

log = logging.getLogger(__name__)

WHOLE_RUN = "all"
_KEYS = (
    "reference",
    "feature_extractor",
    "inception_weights",
    "image_size",
    "batch_size",
    "groups",
    "subset_size",
    "subset_seed",
    "bootstrap",
    "kid_subsets",
    "kid_subset_size",
    "cmmd_sigma",
    "cmmd_scale",
)
_GROUP_METRICS = ("fid", "fid_ci_low", "fid_ci_high", "kid_mean", "kid_std", "clip_fd", "cmmd")


@dataclass(frozen=True)
class FidConfig:
    reference: ReferenceConfig
    extractor: ExtractorConfig
    groups: tuple[str, ...]
    subset_size: int | None
    subset_seed: int
    bootstrap: BootstrapOptions
    kid_subsets: int
    kid_subset_size: int
    cmmd_sigma: float
    cmmd_scale: float

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any], where: str = "scorer.fid") -> FidConfig:
        check_keys(cfg, _KEYS, where)
        extractor = ExtractorConfig.from_mapping(cfg, where)
        needs_dim = isinstance(cfg["reference"], Mapping) and cfg["reference"].get("stats") is not None
        reference = ReferenceConfig.from_mapping(
            cfg["reference"], f"{where}.reference", feature_dim(extractor) if needs_dim else None
        )
        groups = text_list(cfg, "groups", where)
        if len(set(groups)) != len(groups):
            raise ScorerConfigError(f"{where}.groups: duplicate entries in {list(groups)}")
        return cls(
            reference=reference,
            extractor=extractor,
            groups=groups,
            subset_size=optional_integer(cfg, "subset_size", where, minimum=2),
            subset_seed=integer(cfg, "subset_seed", where, minimum=0),
            bootstrap=BootstrapOptions.from_mapping(cfg["bootstrap"], f"{where}.bootstrap"),
            kid_subsets=integer(cfg, "kid_subsets", where, minimum=1),
            kid_subset_size=integer(cfg, "kid_subset_size", where, minimum=2),
            cmmd_sigma=positive_number(cfg, "cmmd_sigma", where),
            cmmd_scale=positive_number(cfg, "cmmd_scale", where),
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
    """FID (+ bootstrap CI), KID, CLIP-FD and CMMD of one group against the reference."""
    values: dict[str, float | None] = dict.fromkeys(_GROUP_METRICS)
    notes: list[str] = []
    n = len(gen)
    if ref.gauss is not None:
        if n < ref.gauss.dim:
            notes.append(f"fid[{label}]: {n} images < {ref.gauss.dim} feature dims; FID not computed")
        else:
            values["fid"] = frechet_to_reference(*gaussian_moments(gen), ref.gauss)
            low, high = bootstrap_statistic_ci(
                n,
                lambda idx: frechet_to_reference(*gaussian_moments(gen[idx]), ref.gauss),
                config.bootstrap,
                desc=f"FID bootstrap [{label}]",
            )
            values["fid_ci_low"], values["fid_ci_high"] = low, high
    if ref.features is not None:
        size = config.kid_subset_size
        if min(n, len(ref.features)) < size:
            notes.append(
                f"fid[{label}]: {n} images ({len(ref.features)} reference) < KID subset size {size}; KID not computed"
            )
        else:
            values["kid_mean"], values["kid_std"] = kid(
                ref.features, gen, subsets=config.kid_subsets, subset_size=size, seed=config.subset_seed
            )
    if ref.clip is not None and ref.clip_gauss is not None:
        if n < 2:
            notes.append(f"fid[{label}]: {n} image(s); CLIP-FD and CMMD need at least 2")
        else:
            values["clip_fd"] = frechet_to_reference(*gaussian_moments(gen_clip), ref.clip_gauss)
            values["cmmd"] = cmmd(gen_clip, ref.clip, sigma=config.cmmd_sigma, scale=config.cmmd_scale)
    return values, notes


class FidScorer:
    name = "fid"

    def __init__(self, config: FidConfig, encoder: ClipEncoder, *, cache_dir: Path | None, device: str) -> None:
        self.config = config
        self.encoder = encoder
        self.features = ImageFeatures(config.extractor, cache_dir=cache_dir, device=device)

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, ("key", "path_256", "prompt"), self.name)
        paths, keys = list(samples["path_256"]), list(samples["key"])
        gen = self.features.features(paths, keys)
        gen_clip = self.encoder.image_embeddings(paths, keys)
        ref, notes = self._reference(list(samples["prompt"]))
        groups, more = self._groups(samples)
        notes += more

        metrics: dict[str, float | None] = {"fid/n_ref": None if ref.n is None else float(ref.n)}
        rows = []
        for group in groups:
            n, values, group_notes = self._score_group(group, keys, gen, gen_clip, ref)
            notes += group_notes
            metrics[f"fid/n{group.suffix}"] = n
            metrics.update({f"fid/{name}{group.suffix}": value for name, value in values.items()})
            rows.append(
                {"group": group.label, "n": n, "n_ref": ref.n, **values, "note": "; ".join(group_notes) or None}
            )
        small = [row for row in rows if ref.clip is not None and row["n"] is not None and row["n"] < ref.clip.shape[1]]
        if small:
            notes.append(
                f"fid: groups with fewer images than the {ref.clip.shape[1]} CLIP dims have a singular "
                "covariance; compare clip_fd only between sets of equal size"
            )
        for note in notes:
            log.warning(note)
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
            dim = feature_dim(self.config.extractor)
            stats = load_stats(source.stats, dim, "scorer.fid.reference.stats")
            note = "fid: the reference is precomputed statistics; KID, CLIP-FD and CMMD need reference images"
            return Reference(None, None, GaussianReference.from_moments(stats.mu, stats.sigma), None, None), [note]
        images = source.images(prompts)
        notes = list(images.notes)
        if not images.paths:
            return Reference(0, None, None, None, None), [*notes, "fid: no reference images; nothing computed"]
        paths, keys = list(images.paths), list(images.keys)
        features = self.features.features(paths, keys)
        clip = self.encoder.image_embeddings(paths, keys)
        n, dim = features.shape
        gauss = None
        if n < dim:
            notes.append(f"fid: the reference has {n} images < {dim} feature dims; FID not computed")
        else:
            gauss = GaussianReference.from_moments(*gaussian_moments(features))
        clip_gauss = GaussianReference.from_moments(*gaussian_moments(clip)) if n >= 2 else None
        if clip_gauss is None:
            notes.append("fid: the reference has fewer than 2 images; CLIP-FD and CMMD not computed")
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
