"""The reference set of FID/KID: an image folder, COCO-style captions + images, or precomputed statistics.

Statistics files are .npz with `mu` (d,) and `sigma` (d, d) (the pytorch-fid / clean-fid layout) plus their
provenance: `feature_extractor`, `resize_mode`, `image_size` (and `n`), written by harness.scorers.fid_stats.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.scorers.distances import moments_problem
from harness.scorers.fid_features import ExtractorConfig, feature_dim
from harness.scorers.images import file_content_key, list_images
from harness.scorers.options import ScorerConfigError

PROVENANCE = ("feature_extractor", "resize_mode", "image_size")


@dataclass(frozen=True)
class ReferenceStats:
    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReferenceImages:
    paths: tuple[Path, ...]
    keys: tuple[str, ...]
    notes: tuple[str, ...] = ()


def stats_provenance(extractor: ExtractorConfig) -> dict[str, str | int]:
    """What a statistics file must record to be comparable with features of `extractor`."""
    return {
        "feature_extractor": extractor.name,
        "resize_mode": extractor.resize_mode.value,
        "image_size": extractor.image_size,
    }


def _read_npz(path: Path, where: str) -> dict[str, np.ndarray]:
    """Every array of an .npz file; anything else (empty, truncated, text, .npy, pickles) is one clear error."""
    expected = "expected a NumPy .npz archive with mu and sigma (python -m harness.scorers.fid_stats writes one)"
    if path.stat().st_size == 0:
        raise ScorerConfigError(f"{where}: {str(path)!r} is empty; {expected}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ScorerConfigError(f"{where}: {str(path)!r} holds a bare array, not an .npz archive; {expected}")
        with data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        if isinstance(err, ScorerConfigError):
            raise
        # np.load reads anything that is not a NumPy file as a pickle, which allow_pickle=False refuses.
        reason = "not a NumPy file" if "pickled" in str(err) else f"{type(err).__name__}: {str(err).splitlines()[0]}"
        raise ScorerConfigError(f"{where}: {str(path)!r} is not a readable .npz file ({reason}); {expected}") from None


def _check_provenance(
    arrays: dict[str, np.ndarray], path: Path, extractor: ExtractorConfig, trust_foreign: bool, where: str
) -> tuple[str, ...]:
    """Refuse a file made with another extractor, resize mode or image size; a file without provenance
    needs trust_foreign_stats and then gets a note."""
    wanted = stats_provenance(extractor)
    recorded = {key: arrays[key].item() for key in PROVENANCE if key in arrays}
    if not recorded:
        if not trust_foreign:
            raise ScorerConfigError(
                f"{where}: {str(path)!r} records no provenance ({', '.join(PROVENANCE)}), so its features may "
                f"come from another pipeline; set {where.rpartition('.')[0]}.trust_foreign_stats=true to use it anyway"
            )
        return (
            f"fid: reference statistics {path.name} carry no provenance; trusted (trust_foreign_stats) to match "
            f"{', '.join(f'{k}={v}' for k, v in wanted.items())}",
        )
    differ = [key for key in PROVENANCE if str(recorded.get(key)) != str(wanted[key])]
    if differ:
        made = ", ".join(f"{k}={recorded.get(k)}" for k in differ)
        run = ", ".join(f"{k}={wanted[k]}" for k in differ)
        raise ScorerConfigError(f"{where}: {str(path)!r} was made with {made}; this run uses {run}")
    return ()


def load_stats(path: str | Path, extractor: ExtractorConfig, where: str, *, trust_foreign: bool) -> ReferenceStats:
    """Read and check a statistics file against the run's extractor: layout, dimension, provenance."""
    path = Path(path)
    if not path.is_file():
        raise ScorerConfigError(f"{where}: statistics file {str(path)!r} does not exist")
    arrays = _read_npz(path, where)
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
    if problem := moments_problem(mu, sigma):
        raise ScorerConfigError(f"{where}: statistics file {str(path)!r}: {problem}; it holds no valid Gaussian")
    dim = feature_dim(extractor)
    if mu.shape[0] != dim:
        raise ScorerConfigError(
            f"{where}: statistics file {str(path)!r} has dimension {mu.shape[0]}, but the configured "
            f"feature extractor gives {dim}-d features"
        )
    n = int(arrays["n"]) if "n" in arrays else None
    if n is not None and n < dim + 1:
        raise ScorerConfigError(
            f"{where}: statistics file {str(path)!r} comes from {n} images < {dim + 1} (feature dims + 1), "
            "so its covariance is singular"
        )
    notes = _check_provenance(arrays, path, extractor, trust_foreign, where)
    return ReferenceStats(mu, sigma, n, notes)


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


@dataclass
class ReferenceConfig:
    """Exactly one source: `folder`, `coco_captions` with `coco_images`, or `stats`."""

    folder: str | None = None
    coco_captions: str | None = None
    coco_images: str | None = None
    stats: str | None = None
    match_prompts: bool = True
    trust_foreign_stats: bool = False

    def check(self, where: str) -> None:
        """Checks the source now (folder holds images, JSON parses); the FidConfig checks the stats file."""
        chosen = [key for key in ("folder", "coco_captions", "stats") if getattr(self, key) is not None]
        if len(chosen) != 1:
            raise ScorerConfigError(
                f"{where}: set exactly one of folder, coco_captions (with coco_images) or stats; "
                f"got {', '.join(chosen) or 'none'} (e.g. {where}.folder=/data/reference_images)"
            )
        if self.folder is not None:
            list_images(self.folder, f"{where}.folder")
        if self.coco_captions is not None:
            read_coco_captions(self.coco_captions, f"{where}.coco_captions")
            if self.coco_images is None or not Path(self.coco_images).is_dir():
                raise ScorerConfigError(
                    f"{where}.coco_images: {self.coco_images!r} is not a folder (the images of coco_captions)"
                )
        elif self.coco_images is not None:
            raise ScorerConfigError(f"{where}.coco_images: only used with {where}.coco_captions")

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
