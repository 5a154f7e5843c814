"""Image files in, uint8 pixels out: the one fixed pipeline of every image that FID/KID features see.

FID/KID path, identical for generated and reference images:
    PIL decode -> RGB -> centre crop to a square (the shorter side) -> PIL bicubic resize to `image_size`
    (default 256, the generated size, so generated samples pass unchanged; 299 in resize mode `pil_bicubic`) ->
    uint8 NCHW tensor -> the feature extractor, whose resize to 299 is that of the mode (fid_features.py).
CLIP path: PIL decode -> RGB -> the open_clip model's own preprocessing (resize, crop, normalise), applied
to the uint8 image once; no float image is ever rescaled a second time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from harness.io import decode_image
from harness.scorers.options import ScorerConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def list_images(folder: Path | str, where: str) -> list[Path]:
    """All image files under `folder` (recursive, sorted); a missing or image-less folder is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScorerConfigError(f"{where}: reference folder {str(folder)!r} does not exist or is not a folder")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ScorerConfigError(
            f"{where}: reference folder {str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    return paths


def file_content_key(path: Path | str) -> str:
    """A content key for an image file outside the sample store: a hash of its bytes."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"file-{digest[:32]}"


def load_rgb(path: Path | str) -> Image.Image:
    """Decode an image file as 8-bit RGB (at most harness.io.MAX_IMAGE_PIXELS of them)."""
    return Image.fromarray(decode_image(path, "RGB"), "RGB")


def load_square_uint8(path: Path | str, image_size: int) -> np.ndarray:
    """The FID/KID pixel path: RGB, centre crop to a square, PIL bicubic to image_size; (H, W, 3) uint8."""
    image = load_rgb(path)
    width, height = image.size
    side = min(width, height)
    if width != height:
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if side != image_size:
        image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)
