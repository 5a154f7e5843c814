"""The reference set of FID/KID: an image folder, COCO-style captions + images, or precomputed statistics.

Statistics files are .npz with `mu` (d,) and `sigma` (d, d), the format pytorch-fid and clean-fid write.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.scorers.images import file_content_key, list_images
from harness.scorers.options import ScorerConfigError, check_keys, optional_text

_KEYS = ("folder", "coco_captions", "coco_images", "stats", "match_prompts")


@dataclass(frozen=True)
class ReferenceStats:
    mu: np.ndarray
    sigma: np.ndarray


@dataclass(frozen=True)
class ReferenceImages:
    paths: tuple[Path, ...]
    keys: tuple[str, ...]
    notes: tuple[str, ...] = ()


def load_stats(path: str | Path, dim: int, where: str) -> ReferenceStats:
    """Read and check a statistics file against the feature dimension of the configured extractor."""
    path = Path(path)
    if not path.is_file():
        raise ScorerConfigError(f"{where}: statistics file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as err:
        raise ScorerConfigError(f"{where}: {str(path)!r} is not a readable .npz file ({err})") from err
    missing = [name for name in ("mu", "sigma") if name not in arrays]
    if missing:
        raise ScorerConfigError(
            f"{where}: statistics file {str(path)!r} lacks {' and '.join(missing)} "
            f"(expected mu of shape (d,) and sigma of shape (d, d); it holds {', '.join(arrays) or 'nothing'})"
        )
    mu = np.asarray(arrays["mu"], dtype=np.float64)
    sigma = np.asarray(arrays["sigma"], dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ScorerConfigError(
            f"{where}: statistics file {str(path)!r} has mu {mu.shape} and sigma {sigma.shape}; "
            "expected (d,) and (d, d)"
        )
    if mu.shape[0] != dim:
        raise ScorerConfigError(
            f"{where}: statistics file {str(path)!r} has dimension {mu.shape[0]}, but the configured "
            f"feature extractor gives {dim}-d features"
        )
    return ReferenceStats(mu, sigma)


def normalize_caption(caption: str) -> str:
    """Captions and prompts are compared lower-cased, with whitespace collapsed and no final period."""
    return " ".join(caption.lower().split()).rstrip(".").strip()


def read_coco_captions(path: str | Path, where: str) -> list[tuple[str, str]]:
    """(caption, image file name) pairs of a COCO captions JSON (`images` + `annotations`)."""
    path = Path(path)
    if not path.is_file():
        raise ScorerConfigError(f"{where}: COCO captions file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = {image["id"]: image["file_name"] for image in data["images"]}
        pairs = [(ann["caption"], files[ann["image_id"]]) for ann in data["annotations"]]
    except (ValueError, KeyError, TypeError) as err:
        raise ScorerConfigError(
            f"{where}: {str(path)!r} is not a COCO captions JSON (images[id, file_name], "
            f"annotations[image_id, caption]): {err!r}"
        ) from err
    if not pairs:
        raise ScorerConfigError(f"{where}: COCO captions file {str(path)!r} has no annotations")
    return pairs


@dataclass(frozen=True)
class ReferenceConfig:
    """Exactly one source: `folder`, `coco_captions` with `coco_images`, or `stats`."""

    folder: str | None
    coco_captions: str | None
    coco_images: str | None
    stats: str | None
    match_prompts: bool

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any], where: str, feature_dim: int | None) -> ReferenceConfig:
        """Checks the source now (folder holds images, JSON parses, stats match `feature_dim`)."""
        check_keys(cfg, _KEYS, where)
        if not isinstance(cfg["match_prompts"], bool):
            raise ScorerConfigError(f"{where}.match_prompts: expected true or false, got {cfg['match_prompts']!r}")
        config = cls(*(optional_text(cfg, key, where) for key in _KEYS[:4]), cfg["match_prompts"])
        chosen = [key for key in ("folder", "coco_captions", "stats") if getattr(config, key) is not None]
        if len(chosen) != 1:
            raise ScorerConfigError(
                f"{where}: set exactly one of folder, coco_captions (with coco_images) or stats; "
                f"got {', '.join(chosen) or 'none'} (e.g. {where}.folder=/data/reference_images)"
            )
        if config.folder is not None:
            list_images(config.folder, f"{where}.folder")
        if config.coco_captions is not None:
            read_coco_captions(config.coco_captions, f"{where}.coco_captions")
            if config.coco_images is None or not Path(config.coco_images).is_dir():
                raise ScorerConfigError(
                    f"{where}.coco_images: {config.coco_images!r} is not a folder (the images of coco_captions)"
                )
        elif config.coco_images is not None:
            raise ScorerConfigError(f"{where}.coco_images: only used with {where}.coco_captions")
        if config.stats is not None and feature_dim is not None:
            load_stats(config.stats, feature_dim, f"{where}.stats")
        return config

    def images(self, prompts: Sequence[str]) -> ReferenceImages:
        """The reference image files; for COCO, those whose captions are the run's prompts (match_prompts)."""
        if self.folder is not None:
            paths = list_images(self.folder, "reference.folder")
            return ReferenceImages(tuple(paths), tuple(file_content_key(p) for p in paths))
        if self.coco_captions is None:
            return ReferenceImages((), ())
        pairs = read_coco_captions(self.coco_captions, "reference.coco_captions")
        wanted = {normalize_caption(p) for p in prompts}
        names = [name for caption, name in pairs if not self.match_prompts or normalize_caption(caption) in wanted]
        names = list(dict.fromkeys(names))
        paths = [Path(self.coco_images) / name for name in names]
        present = [p for p in paths if p.is_file()]
        notes = []
        if len(present) < len(paths):
            notes.append(f"fid: {len(paths) - len(present)} of {len(paths)} COCO reference images are missing")
        if not names:
            notes.append(f"fid: no caption of {self.coco_captions} matches the run's prompts; no reference images")
        return ReferenceImages(tuple(present), tuple(file_content_key(p) for p in present), tuple(notes))
