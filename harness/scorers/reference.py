"""The reference set of FID/KID: an image folder, COCO-style captions + images, or precomputed statistics.

Statistics files are .npz with `mu` (d,) and `sigma` (d, d) (the pytorch-fid / clean-fid layout) plus their
provenance: `feature_extractor`, `resize_mode`, `image_size` (and `n`), written by harness.scorers.fid_stats.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.scorers.configs import ExtractorConfig
from harness.scorers.distances import moments_problem
from harness.scorers.fid_features import feature_dim
from harness.scorers.options import ScorerConfigError

PROVENANCE = ("feature_extractor", "resize_mode", "image_size")


@dataclass(frozen=True)
class ReferenceStats:
    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
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
