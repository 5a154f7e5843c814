"""The planted truth of the toy world: every rate and effect size the generator draws from, and their laws.

`model.world.*` on the command line dials each entry (e.g. model.world.church_share_at_1=0.45); the laws here
are the answers a study of the toy world should recover.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError

# The planted laws are linear in the guidance scale between these two points and flat outside them.
GUIDANCE_LOW, GUIDANCE_HIGH = 1.0, 5.0
# The drawing rules' edition, part of the model id beside the table: raised whenever the same prompt, seed and
# table would give another picture (a phrase read differently, a pictogram redrawn), so that a store's samples
# of the earlier rules are never served as this edition's.
RENDERING = 3


@dataclass(frozen=True)
class World:
    """The planted truth table. Probabilities are per sample; areas are fractions of the image."""

    church_share_at_1: float = 0.45  # share of churches for an ambiguous religious prompt at guidance 1
    church_share_at_5: float = 0.75  # ... at guidance 5 (and beyond); the other six classes share the rest
    lake_area_at_1: float = 0.20  # mean image fraction of the lake in a scene with a lake, at guidance 1
    lake_area_at_5: float = 0.45  # ... at guidance 5 and beyond
    lake_area_sd: float = 0.03  # per-sample spread of the lake's area around its mean
    style_failure: float = 0.08  # a style other than pixel art comes out wrong or without its subject
    pixel_art_failure: float = 0.40  # ... pixel art
    drop_familiar: float = 0.05  # a familiar composition (placed side by side, vocabulary.is_familiar) loses one
    drop_novel: float = 0.35  # a novel composition loses one object
    missing_subject: float = 0.03  # a one-noun prompt draws no subject
    merge: float = 0.05  # a composition's first two objects come out as one merged blob
    wrong_class_cfg: float = 0.05  # a named noun is drawn as another of its kind, classifier-free guidance
    wrong_class_clip: float = 0.20  # ... CLIP guidance (less prompt adherence)
    colour_bleed: float = 0.10  # an object's colour bleeds into its surroundings
    occlusion: float = 0.08  # a foreground bush hides part of the first object
    noise: float = 0.08  # the 64 px image is noisy
    blur: float = 0.08  # the 64 px image is blurred (and so its upsample)
    grain_sd_at_1: float = 8.0  # grain (pixel levels, SD) of the 256 px image at upsample_temp 1.0
    sharpen_at_1: float = 1.5  # unsharp-mask amount of the 256 px image at upsample_temp 1.0
    temp_onset: float = 0.98  # below this upsample temperature, no grain and no sharpening

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"model.world.{f.name}: {value!r} must be a finite number")
            if f.name in _UNBOUNDED:
                if value < 0:
                    raise ConfigError(f"model.world.{f.name}: {value!r} must be >= 0")
            elif not 0 <= value <= 1:
                raise ConfigError(f"model.world.{f.name}: {value!r} must be a probability or fraction in [0, 1]")
        if not self.temp_onset < 1:
            raise ConfigError(f"model.world.temp_onset: {self.temp_onset!r} must be below 1")

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> World:
        """The table with `options` (model.world) over its defaults; an unknown key is a ConfigError."""
        options = dict(options or {})
        known = [f.name for f in dataclasses.fields(cls)]
        for key in options:
            if key not in known:
                raise ConfigError(f"model.world.{key}: unknown entry; allowed: {', '.join(known)}")
        return cls(**{k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in options.items()})

    @property
    def model_id(self) -> str:
        """Names the world, its table and the drawing rules' edition: part of every toy sample's content key."""
        table = json.dumps({**dataclasses.asdict(self), "rendering": RENDERING}, sort_keys=True)
        return f"toy:world@{hashlib.sha256(table.encode()).hexdigest()[:12]}"

    def church_share(self, guidance_scale: float) -> float:
        return _ramp(guidance_scale, self.church_share_at_1, self.church_share_at_5)

    def lake_area(self, guidance_scale: float) -> float:
        return _ramp(guidance_scale, self.lake_area_at_1, self.lake_area_at_5)

    def style_failure_rate(self, style: str) -> float:
        return self.pixel_art_failure if style == "pixel_art" else self.style_failure

    def wrong_class_rate(self, guidance: str) -> float:
        return self.wrong_class_clip if guidance == "clip" else self.wrong_class_cfg

    def upsample_gain(self, temperature: float) -> float:
        """0 at temp_onset and below, 1 at temperature 1.0, linear between (and beyond 1)."""
        return max(0.0, (temperature - self.temp_onset) / (1.0 - self.temp_onset))

    def grain_sd(self, temperature: float) -> float:
        return self.grain_sd_at_1 * self.upsample_gain(temperature)

    def sharpen(self, temperature: float) -> float:
        return self.sharpen_at_1 * self.upsample_gain(temperature)


_UNBOUNDED = {"grain_sd_at_1", "sharpen_at_1", "temp_onset"}


def _ramp(scale: float, at_low: float, at_high: float) -> float:
    """Linear from `at_low` at GUIDANCE_LOW to `at_high` at GUIDANCE_HIGH, flat outside."""
    t = min(max((scale - GUIDANCE_LOW) / (GUIDANCE_HIGH - GUIDANCE_LOW), 0.0), 1.0)
    return at_low + t * (at_high - at_low)
