"""Render a scene: background and settings, pictograms laid out by the composition, failure modes, the style,
then the 64 px base image and, by the upsample-temperature law, the 256 px image.

Every object's visible mask is kept while drawing, so the truth records the area each thing covers.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from harness.toy.pictograms import RECIPES, Pen
from harness.toy.scene import CANVAS, HORIZON, Item, Scene, colour_of, sample_rng
from harness.toy.styles import TREATMENTS
from harness.toy.vocabulary import NOUNS
from harness.toy.world import World

BASE_SIZE = 64
LAKE_COLOUR = NOUNS["lake"].colour
BUSH = (50, 120, 55)  # the occluder's colour
GRASS = (95, 150, 70)
Colour = tuple[int, int, int]
SOFTNESS = 0.8  # px at 256: the render's own blur, before the upsampler's sharpening


def _sky(draw: ImageDraw.ImageDraw, bottom: int = HORIZON) -> None:
    for y in range(bottom):
        t = y / HORIZON
        draw.line([(0, y), (CANVAS, y)], fill=(round(120 + 80 * min(t, 1.0)), round(170 + 50 * min(t, 1.0)), 235))


def _ground(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    """Sky above, open ground of `colour` below the horizon (a field, a desert, snow)."""
    _sky(draw)
    draw.rectangle([0, HORIZON, CANVAS, CANVAS], fill=colour)


def _tree_line(draw: ImageDraw.ImageDraw, colours: list[Colour], rows: int = 1) -> None:
    for row in range(rows):
        for k, x in enumerate(range(-10 - 19 * row, CANVAS, 38)):
            top = HORIZON - 40 - 8 * (k % 3) - 22 * row
            draw.ellipse([x, top, x + 40, HORIZON + 5 - 10 * row], fill=colours[(k + row) % len(colours)])


def _landscape(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    _ground(draw, GRASS)
    _tree_line(draw, [(40, 110, 45)])


def _fall_landscape(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    _ground(draw, (190, 120, 50))
    _tree_line(draw, [(200, 90, 30), (170, 50, 30), (220, 160, 40)])


def _trees(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    """A forest, a park, a grove: two rows of trees of `colour` on grass."""
    _ground(draw, GRASS)
    _tree_line(draw, [colour, tuple(round(0.8 * c) for c in colour)], rows=2)


def _room(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    """A wall of `colour` with a window, over a wooden floor."""
    draw.rectangle([0, 0, CANVAS, 190], fill=colour)
    draw.rectangle([0, 190, CANVAS, CANVAS], fill=(140, 95, 60))
    draw.rectangle([20, 40, 80, 110], fill=(180, 215, 240))


def _water(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    """Open water of `colour` from a far shore to the bottom (a sea, a river, a harbour)."""
    _sky(draw)
    draw.rectangle([0, HORIZON - 12, CANVAS, HORIZON], fill=(90, 120, 80))
    draw.rectangle([0, HORIZON, CANVAS, CANVAS], fill=colour)
    for y in range(HORIZON + 12, CANVAS, 18):
        draw.line([(10, y), (CANVAS - 10, y)], fill=tuple(min(255, c + 35) for c in colour), width=2)


def _shore(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    """The sea at the horizon, then a shore of `colour` (a beach, a rocky coast)."""
    _sky(draw)
    draw.rectangle([0, HORIZON - 20, CANVAS, HORIZON + 10], fill=(20, 120, 150))
    draw.rectangle([0, HORIZON + 10, CANVAS, CANVAS], fill=colour)


def _street(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    """Buildings along a paved street of `colour` with its centre line."""
    _sky(draw)
    for k, x in enumerate(range(0, CANVAS, 43)):
        top = 70 + 25 * (k % 3)
        draw.rectangle([x, top, x + 40, HORIZON], fill=(150 - 15 * (k % 3), 140 - 10 * (k % 2), 135))
        for y in range(top + 10, HORIZON - 10, 20):
            draw.rectangle([x + 8, y, x + 16, y + 8], fill=(240, 220, 140))
    draw.rectangle([0, HORIZON, CANVAS, CANVAS], fill=colour)
    draw.line([(0, 225), (CANVAS, 225)], fill=(235, 235, 235), width=3)


def _open_sky(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    """Only sky to the bottom, with white clouds."""
    _sky(draw, CANVAS)
    for x, y in ((30, 60), (150, 40), (90, 200), (200, 170)):
        draw.ellipse([x, y, x + 70, y + 28], fill=(248, 248, 250))


def _wall(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    """A wall of `colour` laid in courses, over a grey pavement."""
    draw.rectangle([0, 0, CANVAS, HORIZON + 20], fill=colour)
    mortar = tuple(min(255, c + 50) for c in colour)
    for row, y in enumerate(range(12, HORIZON + 20, 12)):
        draw.line([(0, y), (CANVAS, y)], fill=mortar, width=2)
        for x in range(12 * (row % 2), CANVAS, 24):
            draw.line([(x, y - 12), (x, y)], fill=mortar, width=2)
    draw.rectangle([0, HORIZON + 20, CANVAS, CANVAS], fill=(150, 150, 150))


# A setting's recipe -> how its backdrop is painted in its colour (the lake is a band drawn over any backdrop).
BACKDROPS = {
    "ground": _ground,
    "landscape": _landscape,
    "fall_landscape": _fall_landscape,
    "trees": _trees,
    "room": _room,
    "water": _water,
    "shore": _shore,
    "street": _street,
    "sky": _open_sky,
    "wall": _wall,
}


def _background(scene: Scene) -> Image.Image:
    """The backdrop of the first setting the prompt names other than the lake; sky and grass without one."""
    settings = [NOUNS[i.named] for i in scene.items if i.named in NOUNS and NOUNS[i.named].kind == "setting"]
    backdrops = [s for s in settings if s.recipe != "lake"]
    image = Image.new("RGB", (CANVAS, CANVAS))
    draw = ImageDraw.Draw(image)
    if backdrops:
        BACKDROPS[backdrops[0].recipe](draw, backdrops[0].colour)
    else:
        _ground(draw, GRASS)
    return image


def _lake_mask(area: float) -> np.ndarray:
    """A band of water along the bottom, its shore gently curved, covering about `area` of the image."""
    top = CANVAS * (1.0 - area)
    x = np.arange(CANVAS)
    shore = top + 5.0 * np.sin(x / CANVAS * 2 * np.pi * 1.5)
    return np.arange(CANVAS)[:, None] >= shore[None, :]


def _boxes(scene: Scene, objects: list[Item], ground: float) -> list[list[float]]:
    """Where each object goes: alone in the middle; riding on the second; side by side otherwise."""
    jx, jy, js, _ = (v - 0.5 for v in scene.layout)
    n = len(objects)
    relation = scene.reading["relation"]
    if n == 1:
        size = (110 if scene.lake_area_target else 150) * (1 + 0.15 * js)
        cx = CANVAS / 2 + 40 * jx
        return [[cx - size / 2, ground - size, cx + size / 2, ground]]
    if n == 2 and relation == "riding":
        w, h = 180 * (1 + 0.1 * js), 100.0
        x0 = (CANVAS - w) / 2 + 20 * jx
        carrier = [x0, ground - h, x0 + w, ground]
        rider = 95.0
        bottom = ground - 0.28 * h
        cx = x0 + w / 2 - 30
        return [[cx - rider / 2, bottom - rider, cx + rider / 2, bottom], carrier]
    width = (CANVAS - 20) / n
    boxes = []
    for k in range(n):
        size = min(width, 130.0) * (0.95 if k == 0 else 0.75)
        cx = 10 + width * (k + 0.5) + 8 * jx
        boxes.append([cx - size / 2, ground - size + 6 * jy, cx + size / 2, ground + 6 * jy])
    return boxes


def _objects(scene: Scene) -> list[tuple[Item | list[Item], str, Colour]]:
    """What to draw, in order: (item or merged items, recipe, colour)."""
    drawn = [i for i in scene.items if i.drawn is not None and i.named != "lake" and _is_pictogram(i)]
    merged = [i for i in drawn if i.status == "merged"]
    out: list = []
    for item in drawn:
        if item.status == "merged":
            if item is merged[0]:
                colours = np.mean([colour_of(m.drawn) for m in merged], axis=0)
                out.append((merged, "blob", tuple(int(c) for c in colours)))
            continue
        recipe = "blob" if item.drawn.startswith("?") else NOUNS[item.drawn].recipe
        out.append((item, recipe, colour_of(item.drawn)))
    return out


def _copies(box: list[float], count: int) -> list[tuple[float, float, float, float]]:
    """`count` overlapping boxes filling `box` from the left, each a scaled copy standing on its bottom edge."""
    x0, y0, x1, y1 = box
    scale = 1.0 / (0.5 + 0.5 * count)
    width, height = (x1 - x0) * scale, (y1 - y0) * scale
    return [(x0 + k * width / 2, y1 - height, x0 + k * width / 2 + width, y1) for k in range(count)]


def _is_pictogram(item: Item) -> bool:
    return item.drawn.startswith("?") or NOUNS[item.drawn].kind != "setting"


def render_scene(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """The clean 256 px picture (float32 RGB) with its failure modes and style, and the objects' union mask;
    fills each item's `box` and visible `area`, and scene.planted's measured lake area."""
    image = _background(scene)
    masks: list[tuple[list[Item], np.ndarray]] = []
    ground = HORIZON + 45.0
    lake = [i for i in scene.items if i.named == "lake" and i.drawn is not None]
    if lake:
        mask = _lake_mask(scene.lake_area_target)
        pixels = np.asarray(image).copy()
        pixels[mask] = LAKE_COLOUR
        image = Image.fromarray(pixels)
        masks.append((lake, mask))
        ground = max(CANVAS * (1.0 - scene.lake_area_target) + 8.0, 110.0)
    objects = _objects(scene)
    boxes = _boxes(scene, [o for o, _, _ in objects], ground) if objects else []
    for (items, recipe, colour), box in zip(objects, boxes, strict=True):
        group = items if isinstance(items, list) else [items]
        layer = Image.new("L", image.size)
        for copy in _copies(box, 1 if isinstance(items, list) else items.count):
            RECIPES[recipe](Pen(image, layer, copy), colour)
        mask = np.asarray(layer) > 0
        for _, earlier in masks:
            earlier &= ~mask
        masks.append((group, mask))
        for item in group:
            item.box = [round(v, 2) for v in box]
    pixels = np.asarray(image, dtype=np.float32).copy()
    union = np.zeros((CANVAS, CANVAS), bool)
    for group, mask in masks:
        if group is not lake:
            union |= mask
    pixels = _failures(scene, pixels, masks)
    for group, mask in masks:
        for item in group:
            item.area = round(float(mask.mean()), 6)
    treatment = TREATMENTS[scene.style_drawn]
    styled = treatment(pixels, union, sample_rng(scene.prompt, scene.seed, "style"))
    return np.clip(styled, 0, 255).astype(np.float32), union


def _failures(scene: Scene, pixels: np.ndarray, masks: list) -> np.ndarray:
    """Colour bleeding and partial occlusion (scene-level failure modes; noise and blur hit the 64 px image)."""
    drawn = [(group, mask) for group, mask in masks if group[0].named != "lake"]
    if "colour_bleed" in scene.degradations and drawn:
        group, mask = drawn[0]
        colour = np.array(colour_of(group[0].drawn), dtype=np.float32)
        halo = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(14)), np.float32)
        weight = (0.6 * halo / 255.0 * ~mask)[..., None]
        pixels = pixels * (1 - weight) + colour * weight
    if "occlusion" in scene.degradations and drawn:
        group, _ = drawn[0]
        x0, y0, x1, y1 = group[0].box
        bush = Image.new("L", (CANVAS, CANVAS))
        ImageDraw.Draw(bush).ellipse([x0 - 10, y0 + 0.45 * (y1 - y0), x0 + 0.6 * (x1 - x0), y1 + 25], fill=255)
        cover = np.asarray(bush) > 0
        pixels[cover] = BUSH
        for _, mask in masks:
            mask &= ~cover
    return pixels


def base_image(scene: Scene, clean: np.ndarray) -> np.ndarray:
    """The 64 px image: the picture area-averaged down, then the base's noise and blur failures."""
    small = np.asarray(
        Image.fromarray(clean.round().astype(np.uint8)).resize((BASE_SIZE, BASE_SIZE), Image.Resampling.BOX),
        np.float32,
    )
    rng = sample_rng(scene.prompt, scene.seed, "base")
    noise = rng.normal(0.0, 25.0, small.shape)  # drawn always: a parameter never shifts the later draws
    if "blur" in scene.degradations:
        small = np.asarray(Image.fromarray(small.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.3)), np.float32)
    if "noise" in scene.degradations:
        small = small + noise
    return np.clip(small.round(), 0, 255).astype(np.uint8)


def upsampled_image(scene: Scene, clean: np.ndarray, temperature: float, world: World) -> tuple[np.ndarray, dict]:
    """The 256 px image by the planted law: sharpening and grain both proportional to world.upsample_gain."""
    radius = SOFTNESS + (4 * 1.3 if "blur" in scene.degradations else 0.0)
    image = Image.fromarray(clean.round().astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    soft = np.asarray(image, np.float32)
    amount = world.sharpen(temperature)
    detail = soft - np.asarray(image.filter(ImageFilter.GaussianBlur(2.0)), np.float32)
    grain_sd = world.grain_sd(temperature)
    grain = sample_rng(scene.prompt, scene.seed, "upsample").standard_normal(soft.shape[:2])[..., None]
    out = soft + amount * detail + grain_sd * grain
    return np.clip(out.round(), 0, 255).astype(np.uint8), {"sharpen": amount, "grain_sd": grain_sd, "blur_px": radius}
