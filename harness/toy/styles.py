"""Art styles as rendering treatments of a clean 256 px picture: each the trait a viewer (or CLIP) tells it by.

A treatment maps (image, objects' mask, generator) to an image: float32 (H, W, 3) in [0, 255] both ways.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Treatment = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
PAPER = np.array([242.0, 234.0, 214.0])


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "RGB")


def _blur(image: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(_pil(image).filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)


def _outline(mask: np.ndarray, width: int) -> np.ndarray:
    """The band of `width` pixels around the objects' edges."""
    m = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    grown = np.asarray(m.filter(ImageFilter.MaxFilter(2 * width + 1))) > 0
    shrunk = np.asarray(m.filter(ImageFilter.MinFilter(2 * width + 1))) > 0
    return grown & ~shrunk


def _luminance(image: np.ndarray) -> np.ndarray:
    return image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def plain(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return image


def photograph(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth shading: soft focus, light falling from above, a darker rim (vignette)."""
    h, w = image.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.08 - 0.2 * y / h
    vignette = 1.0 - 0.25 * (((x - w / 2) / w) ** 2 + ((y - h / 2) / h) ** 2) * 2
    return _blur(image, 1.4) * (light * vignette)[..., None]


def oil_painting(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thick brush strokes of each place's own colour, and canvas weave."""
    canvas = _pil(image)
    draw = ImageDraw.Draw(canvas)
    h, w = image.shape[:2]
    for _ in range(1400):
        x, y = rng.integers(0, w), rng.integers(0, h)
        angle, length = rng.uniform(0, np.pi), rng.uniform(5, 12)
        colour = np.clip(image[y, x] + rng.normal(0, 14, 3), 0, 255).astype(int)
        end = (x + length * np.cos(angle), y + length * np.sin(angle))
        draw.line([(x, y), end], fill=tuple(colour), width=int(rng.integers(3, 6)))
    weave = 6 * np.sin(np.arange(w) * 2.1)[None, :] * np.sin(np.arange(h) * 1.7)[:, None]
    return np.asarray(canvas, dtype=np.float32) + weave[..., None]


def pixel_art(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blocky: 32 x 32 cells, a 12-colour palette."""
    h, w = image.shape[:2]
    small = _pil(image).resize((32, 32), Image.Resampling.BOX).quantize(12, dither=Image.Dither.NONE)
    return np.asarray(small.convert("RGB").resize((w, h), Image.Resampling.NEAREST), dtype=np.float32)


def chinese_ink_painting(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey ink washes on warm paper, dark brush edges."""
    ink = 1.0 - _luminance(_blur(image, 2.0)) / 255.0
    ink = 0.15 + 0.85 * ink**1.4
    edges = _outline(mask, 2)
    ink[edges] = np.maximum(ink[edges], 0.85)
    fibres = rng.normal(0, 4, image.shape[:2])[..., None]
    return PAPER * (1.0 - 0.9 * ink[..., None]) + fibres


def watercolour(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pale, bleeding colour with darker pooled edges on white paper."""
    wash = 255.0 - (255.0 - _blur(image, 3.5)) * 0.55
    wash[_outline(mask, 1)] *= 0.8
    return wash + rng.normal(0, 3, image.shape[:2])[..., None]


def pencil_sketch(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Graphite on white: outlines and diagonal hatching where the picture is dark."""
    grey = _luminance(image)
    h, w = grey.shape
    y, x = np.mgrid[0:h, 0:w]
    sketch = np.full((h, w), 246.0)
    sketch[(grey < 150) & ((x + y) % 6 == 0)] = 120.0
    sketch[(grey < 90) & ((x - y) % 6 == 0)] = 90.0
    edges = np.asarray(_pil(image).convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float32)
    sketch -= np.clip(edges * 2.0, 0, 170)
    sketch[_outline(mask, 1)] = 60.0
    return np.repeat(sketch[..., None], 3, axis=2) + rng.normal(0, 3, (h, w, 1))


def render_3d(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth plastic shading lit from the top left, with a drop shadow."""
    h, w = image.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    shadow = np.roll(np.roll(mask, 9, axis=0), 9, axis=1) & ~mask
    out = _blur(image, 2.0)
    out[shadow] *= 0.55
    light = 1.15 - 0.35 * (x + y) / (w + h)
    return (
        out * light[..., None]
        + 40.0 * np.exp(-(((x - 0.3 * w) ** 2 + (y - 0.25 * h) ** 2) / (0.02 * w * h)))[..., None]
    )


def cartoon(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flat saturated colours with thick black outlines."""
    grey = _luminance(image)[..., None]
    flat = np.round((grey + 1.4 * (image - grey)) / 48.0) * 48.0
    flat[_outline(mask, 3)] = 15.0
    return flat


def anime(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cel shading (three tones a channel), thin outlines and a pastel sky."""
    cel = np.round(image / 96.0) * 96.0 * 0.7 + 70.0
    h = image.shape[0]
    tint = np.linspace(1.0, 0.0, h)[:, None, None] * np.array([40.0, 0.0, 30.0])
    cel = cel + tint * (~mask)[..., None]
    cel[_outline(mask, 1)] = 30.0
    return cel


TREATMENTS: dict[str, Treatment] = {
    "plain": plain,
    "oil_painting": oil_painting,
    "photograph": photograph,
    "pixel_art": pixel_art,
    "chinese_ink_painting": chinese_ink_painting,
    "watercolour": watercolour,
    "pencil_sketch": pencil_sketch,
    "3d_render": render_3d,
    "cartoon": cartoon,
    "anime": anime,
}
