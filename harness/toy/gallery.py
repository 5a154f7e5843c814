"""Example pictures of the toy world for the manual: python -m harness.toy.gallery --out docs/images.

Each sheet is a grid of 256 px samples shown at 128 px, stored with a 128-colour palette to stay small. The style
sheet dials the failure modes to zero so that each treatment shows; the others draw from the default table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from harness.config.schema import SampleParams
from harness.toy.generator import render
from harness.toy.world import World

TILE = 128
STYLES = (
    "a photograph of a corgi",
    "an oil painting of a corgi",
    "pixel art of a corgi",
    "a chinese ink painting of a corgi",
    "a watercolour painting of a corgi",
    "a pencil sketch of a corgi",
    "a 3d render of a corgi",
    "a cartoon of a corgi",
    "an anime drawing of a corgi",
)
NO_FAILURES = dict.fromkeys(("style_failure", "missing_subject", "colour_bleed", "occlusion", "noise", "blur"), 0.0)
SHEETS = {
    "toy-religious-building.png": [("a religious building", g, range(8)) for g in (1.0, 5.0)],
    "toy-styles.png": [(p, 3.0, range(1)) for p in STYLES],
    "toy-scenes.png": [
        *[("a house by the lake", g, range(4)) for g in (1.0, 3.0, 5.0)],
        ("a polar bear sailing a ship", 3.0, range(4)),
        ("a hedgehog using a calculator", 3.0, range(4)),
    ],
}


def sheet(rows: list[tuple[str, float, range]], world: World) -> Image.Image:
    """One row per (prompt, guidance scale), one column per seed; a style sheet lays its rows out in a line."""
    tiles = []
    for prompt, guidance_scale, seeds in rows:
        params = SampleParams(guidance="classifier_free", guidance_scale=guidance_scale, upsample_temp=0.997)
        row = [render(prompt, seed, params, world)[1] for seed in seeds]
        tiles.append(np.concatenate([np.asarray(Image.fromarray(t).resize((TILE, TILE))) for t in row], axis=1))
    if all(t.shape[1] == TILE for t in tiles):  # one sample per row: a strip
        return Image.fromarray(np.concatenate(tiles, axis=1))
    return Image.fromarray(np.concatenate(tiles, axis=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.toy.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="folder for the PNGs (docs/images)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in SHEETS.items():
        world = World.from_options(NO_FAILURES) if name == "toy-styles.png" else World()
        sheet(rows, world).quantize(128).save(args.out / name, optimize=True)
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
