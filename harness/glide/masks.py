"""Inputs of GLIDE's inpainting mode: the source image at 64 and 256 px, the keep-mask, and the known-pixel rule.

Pure functions following the official inpainting notebook: PIL bicubic for images, nearest for the mask.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .diffusion import DenoisedFn

BASE_SIZE = 64
UPSAMPLE_SIZE = 256
RECTANGLE_KEYS = ("left", "top", "right", "bottom")


class InpaintError(ValueError):
    """A source image, mask or rectangle that inpainting cannot use; the message names the value."""


def source_tensor(image: Image.Image | np.ndarray, size: int) -> torch.Tensor:
    """(1, 3, size, size) float32 in [-1, 1] of an RGB image (PIL, or a uint8 (H, W, 3) array), PIL bicubic."""
    pil = _as_pil(image).convert("RGB").resize((size, size), resample=Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.asarray(pil, dtype=np.uint8).copy())
    # The notebook's scaling: uint8 / 127.5 - 1, so 0 -> -1 and 255 -> 1.
    return pixels.permute(2, 0, 1)[None].float() / 127.5 - 1


def source_tensors(image: Image.Image | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The source image for the base model (64 px) and for the upsampler (256 px), each resized from the original."""
    return source_tensor(image, BASE_SIZE), source_tensor(image, UPSAMPLE_SIZE)


def _as_pil(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise InpaintError(
            f"source image array of dtype {array.dtype} and shape {array.shape} is not allowed; "
            "give a PIL image or a uint8 array of shape (height, width, 3)"
        )
    return Image.fromarray(array)


def keep_mask(mask: torch.Tensor | np.ndarray, size: int = BASE_SIZE) -> torch.Tensor:
    """A keep-mask (1 = keep the source pixel) as float32 (batch, 1, size, size), validated.

    Accepts booleans or 0/1 numbers shaped (size, size) or (batch, 1, size, size). A mask that is not binary,
    has another size, or keeps every pixel or none of them (nothing to inpaint, or nothing to keep) is refused.
    """
    values = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    if values.ndim == 2:
        values = values[None, None]
    if values.ndim != 4 or values.shape[1] != 1 or tuple(values.shape[2:]) != (size, size):
        raise InpaintError(
            f"inpaint mask of shape {tuple(np.shape(mask))} is not allowed; it must be ({size}, {size}) "
            f"or (batch, 1, {size}, {size})"
        )
    if values.dtype != torch.bool:
        bad = values[(values != 0) & (values != 1)]
        if bad.numel():
            raise InpaintError(
                f"inpaint mask holds the value {bad.flatten()[0].item()!r}; it must be binary (0/1 or bool)"
            )
    values = values.float()
    kept = values.flatten(1).mean(dim=1)
    if (kept == 1).any() or (kept == 0).any():
        what = "every pixel (nothing to inpaint)" if (kept == 1).any() else "no pixel (nothing to keep)"
        raise InpaintError(f"inpaint mask keeps {what}; it must keep some pixels and repaint others")
    return values


def upsampled_mask(mask_64: torch.Tensor, size: int = UPSAMPLE_SIZE) -> torch.Tensor:
    """The upsampler's keep-mask: the 64 px mask (batch, 1, 64, 64) resized by nearest, as the notebook does."""
    return F.interpolate(mask_64.float(), size=(size, size), mode="nearest")


def rectangle_mask(rectangle: Mapping[str, float], size: int = BASE_SIZE) -> torch.Tensor:
    """The keep-mask (1, 1, size, size) that repaints one rectangle and keeps every other pixel.

    `rectangle` holds left, top, right, bottom as fractions of the width and height in [0, 1]; pixel
    column j is repainted when round(left * size) <= j < round(right * size), rows likewise.
    """
    if sorted(rectangle) != sorted(RECTANGLE_KEYS):
        raise InpaintError(
            f"inpaint rectangle keys {sorted(rectangle)} are not allowed; give exactly {', '.join(RECTANGLE_KEYS)}"
        )
    for key in RECTANGLE_KEYS:
        value = rectangle[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise InpaintError(f"inpaint rectangle {key}={value!r} is not allowed; it must be a fraction in [0, 1]")
    left, top, right, bottom = (round(rectangle[key] * size) for key in RECTANGLE_KEYS)
    if left >= right or top >= bottom:
        raise InpaintError(
            f"inpaint rectangle {dict(rectangle)} covers no pixel of the {size} px image; "
            "it needs left < right and top < bottom, at least one pixel apart"
        )
    mask = torch.ones(1, 1, size, size)
    mask[:, :, top:bottom, left:right] = 0
    return keep_mask(mask, size)


def keep_known_pixels(source: torch.Tensor, mask: torch.Tensor) -> DenoisedFn:
    """The denoised_fn of inpainting: x_0 <- x_0 * (1 - mask) + source * mask, in every step before clipping."""

    def denoised_fn(pred_xstart: torch.Tensor) -> torch.Tensor:
        keep = mask.to(pred_xstart)
        return pred_xstart * (1 - keep) + source.to(pred_xstart) * keep

    return denoised_fn
