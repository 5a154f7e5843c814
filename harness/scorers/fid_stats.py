"""Write FID reference statistics of an image folder: python -m harness.scorers.fid_stats FOLDER -o OUT.npz.

Same pixel path and feature extractor as the fid scorer (defaults: FidConfig's, as the scorer's), so the file
plugs into scorer.fid.reference.stats: mu and sigma as pytorch-fid and clean-fid write them, plus n and the
provenance (feature_extractor, resize_mode, image_size) that the scorer checks against its own.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.io import write_atomic
from harness.scorers.configs import ExtractorConfig, FidConfig, ResizeMode
from harness.scorers.distances import enough_for_covariance, gaussian_moments
from harness.scorers.fid_features import ImageFeatures
from harness.scorers.images import file_content_key, list_images
from harness.scorers.reference import stats_provenance

log = logging.getLogger(__name__)


def write_stats(folder: Path, out: Path, extractor: ExtractorConfig, *, cache_dir: Path | None, device: str) -> int:
    """Extract features of every image under `folder`, write mu/sigma/n/provenance atomically; returns n."""
    paths = list_images(folder, "fid_stats")
    features = ImageFeatures(extractor, cache_dir=cache_dir, device=device).features(
        paths, [file_content_key(p) for p in paths]
    )
    n, dim = features.shape
    if not enough_for_covariance(n, dim):
        raise ValueError(
            f"fid_stats: {str(folder)!r} holds {n} images < {dim + 1} (feature dims + 1); sigma would be singular"
        )
    mu, sigma = gaussian_moments(features)
    provenance = {key: np.asarray(value) for key, value in stats_provenance(extractor).items()}
    buffer = io.BytesIO()
    np.savez(buffer, mu=mu, sigma=sigma, n=np.int64(n), **provenance)
    write_atomic(out, buffer.getvalue())
    return n


def build_parser() -> argparse.ArgumentParser:
    defaults = FidConfig().extractor
    parser = argparse.ArgumentParser(
        prog="python -m harness.scorers.fid_stats",
        description="Write FID reference statistics (mu, sigma) of the images in a folder to an .npz file.",
    )
    parser.add_argument("folder", type=Path, help="folder of reference images (searched recursively)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output .npz (written atomically)")
    parser.add_argument("--feature-extractor", default=defaults.feature_extractor)
    parser.add_argument("--inception-weights", default=defaults.inception_weights)
    parser.add_argument("--inception-features", type=int, default=defaults.inception_features)
    parser.add_argument("--resize-mode", default=defaults.resize_mode.value, choices=[m.value for m in ResizeMode])
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache directory (default: none)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        extractor = ExtractorConfig(
            feature_extractor=args.feature_extractor,
            inception_weights=args.inception_weights,
            inception_features=args.inception_features,
            resize_mode=ResizeMode(args.resize_mode),
            image_size=args.image_size,
            batch_size=args.batch_size,
        )
        extractor.check("fid_stats")
        n = write_stats(args.folder, args.out, extractor, cache_dir=args.cache_dir, device=args.device)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    log.info("wrote statistics of %d images to %s", n, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
