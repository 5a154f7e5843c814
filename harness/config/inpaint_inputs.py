"""An inpainting prompt's inputs: its source image and keep-mask read, checked and digested for content keys.

The image is a path to any image PIL reads, or a generated source {prompt, seed} that the job samples with the
model's text-to-image pair first; the mask a path to a 64x64 image (white keeps the source pixel, black
repaints it) or a rectangle {left, top, right, bottom} of [0, 1] fractions to repaint.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from harness.errors import ConfigError
from harness.glide.masks import BASE_SIZE, InpaintError, keep_mask, rectangle_mask, source_tensors
from harness.glide.pipeline import KnownPixels
from harness.io import UnreadableImage, decode_image, write_atomic


@dataclass(frozen=True)
class InpaintInputs:
    """The source at both stage sizes, the 64 px keep-mask, and a digest of the pixels of both."""

    source_64: torch.Tensor  # (1, 3, 64, 64) in [-1, 1]
    source_256: torch.Tensor  # (1, 3, 256, 256)
    mask_64: torch.Tensor  # (1, 1, 64, 64), 1 = keep
    digest: str

    def base(self) -> KnownPixels:
        return KnownPixels(self.source_64, self.mask_64)

    def upsample(self) -> KnownPixels:
        return KnownPixels(self.source_256, self.mask_64)


def store_mask(root: Path, mask_64: torch.Tensor) -> Path:
    """The 64 px keep-mask as a PNG (white keeps) under `root`/mask/, named by its pixels; written once, atomically."""
    pixels = (mask_64[0, 0].numpy() * 255).astype(np.uint8)
    name = hashlib.sha256(pixels.tobytes()).hexdigest()[:32]
    path = Path(root) / "mask" / name[:2] / f"{name}.png"
    if not path.is_file():
        buffer = io.BytesIO()
        Image.fromarray(pixels, "L").save(buffer, format="PNG")
        write_atomic(path, buffer.getvalue())
    return path


def read_source(path: str, where: str) -> np.ndarray:
    """The image at `path` as uint8 RGB (H, W, 3); a missing or unreadable file is a one-line ConfigError."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{where}: source image {path!r} does not exist")
    try:
        return decode_image(file, "RGB")
    except UnreadableImage as err:
        raise ConfigError(f"{where}: source image {path!r} is not a readable image ({err})") from None


def read_mask(mask: Any, where: str) -> torch.Tensor:
    """The keep-mask (1, 1, 64, 64) of a rectangle spec or a mask image file, validated."""
    try:
        if isinstance(mask, Mapping):
            return rectangle_mask(dict(mask), BASE_SIZE)
        file = Path(str(mask)).expanduser()
        if not file.is_file():
            raise ConfigError(f"{where}: mask image {str(mask)!r} does not exist")
        try:
            values = decode_image(file, "L")
        except UnreadableImage as err:
            raise ConfigError(f"{where}: mask image {str(mask)!r} is not a readable image ({err})") from None
        bad = values[(values != 0) & (values != 255)]
        if bad.size:
            raise ConfigError(
                f"{where}: mask image {str(mask)!r} holds the grey level {int(bad[0])}; it must be binary: "
                "255 (white) keeps the source pixel, 0 (black) repaints it"
            )
        return keep_mask(values // 255, BASE_SIZE)
    except InpaintError as err:
        raise ConfigError(f"{where}: {err}") from None


def load_inputs(image: str, mask: Any, where: str) -> InpaintInputs:
    """Read and check a prompt's source and mask; the digest hashes the decoded pixels and the 64 px mask."""
    pixels = read_source(image, where)
    keep = read_mask(mask, where)
    source_64, source_256 = source_tensors(pixels)
    digest = hashlib.sha256()
    digest.update(repr(pixels.shape).encode())
    digest.update(pixels.tobytes())
    digest.update(keep.to(torch.uint8).numpy().tobytes())
    return InpaintInputs(source_64, source_256, keep, digest.hexdigest()[:32])


def prompt_inputs(prompt: Any, where: str | None = None) -> InpaintInputs | None:
    """The inputs of a prompt (config or suite Prompt) carrying `image` and `mask`; None for a text-only one.
    A generated source is read once it is sampled, when the suite's prompts name its file (suites.with_sources)."""
    where = where or f"prompt {prompt.id!r}"
    if prompt.image is None and prompt.mask is None:
        return None
    if prompt.image is None or prompt.mask is None:
        missing = "image" if prompt.image is None else "mask"
        raise ConfigError(f"{where}: an inpainting prompt needs both image and mask; {missing} is missing")
    return load_inputs(str(prompt.image), prompt.mask, where)


def batch_known(inputs: list[InpaintInputs | None], stage: str) -> KnownPixels | None:
    """One batch's known pixels at `stage` (base or upsample), or None when its prompts are text-only."""
    if all(item is None for item in inputs):
        return None
    if any(item is None for item in inputs):
        raise ValueError("a batch mixes inpainting and text-only prompts")
    parts = [item.base() if stage == "base" else item.upsample() for item in inputs]
    return KnownPixels(torch.cat([p.source for p in parts]), torch.cat([p.mask for p in parts]))
