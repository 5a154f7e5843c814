"""Which models a run uses: the two stages' presets, where their weights come from, and the device. Typed with
the run's config, so nothing here imports torch until a file's digest or a GPU's presence is asked for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .bad_input import GlideInputError
from .presets import CLIP_PRESETS, PRESETS, preset

WEIGHTS = ("official", "random", "toy")  # toy: no weights; the toy world (harness/toy) renders the images


class DeviceError(GlideInputError):
    """A device that this machine does not have; the message names it and what is there."""


def check_device(device: str) -> None:
    """Refuse `cuda` / `cuda:N` where torch sees no such GPU, before any work (auto and cpu always pass)."""
    if not device.startswith("cuda"):
        return
    import torch  # only a GPU's presence needs it

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise DeviceError(f"sampler.device: {device!r} asks for a GPU but torch finds no CUDA device; use cpu or auto")
    index = device.partition(":")[2]
    if index and not (index.isdigit() and int(index) < count):
        raise DeviceError(
            f"sampler.device: {device!r} is not one of the {count} GPUs here (cuda:0 to cuda:{count - 1})"
        )


@dataclass
class SourceSpec:
    """The text-to-image pair, and its sampler settings, that an inpainting model's suites make their
    generated source images with (a prompt's `image: {prompt, seed}`); the 256 px image is the source."""

    name: str = "glide"
    base: str = "base"
    upsample: str = "upsample"
    weights: str = "official"
    seed: int = 0
    base_path: str | None = None  # local checkpoint files; null: the inpainting model's cache dir, else a download
    upsample_path: str | None = None
    sampler: dict[str, Any] = field(default_factory=dict)  # sampler fields these sources are sampled with

    def __post_init__(self) -> None:
        for key in ("base", "upsample"):
            name = getattr(self, key)
            if name not in PRESETS or PRESETS[name].inpaint:
                allowed = ", ".join(n for n, cfg in PRESETS.items() if not cfg.inpaint)
                raise GlideInputError(f"model.source.{key}: {name!r} is not a text-to-image preset; allowed: {allowed}")
        if self.weights not in WEIGHTS:
            raise GlideInputError(f"model.source.weights: {self.weights!r} is not one of {', '.join(WEIGHTS)}")

    def model(self, owner: ModelSpec) -> ModelSpec:
        """The pair as a model spec of its own, fetched into (or read from) the inpainting model's cache."""
        return ModelSpec(
            name=self.name,
            base=self.base,
            upsample=self.upsample,
            weights=self.weights,
            seed=self.seed,
            base_path=self.base_path,
            upsample_path=self.upsample_path,
            cache_dir=owner.cache_dir,
            download=owner.download,
        )


@dataclass
class ModelSpec:
    """The two stages' presets and where their weights come from."""

    name: str = "glide"
    base: str = "base"
    upsample: str = "upsample"
    weights: str = "official"  # official checkpoints, or random weights drawn from `seed`
    seed: int = 0
    base_path: str | None = None  # local checkpoint files; null: the cache dir, else a download
    upsample_path: str | None = None
    cache_dir: str | None = None  # null: $GLIDE_CACHE or the user cache dir
    download: bool = True
    # The noised CLIP that guides the base under a gradient guidance (sampler.guidance=clip); loaded only then.
    clip: str = "noised_clip"  # a preset of glide/noised_clip.py CLIP_PRESETS
    clip_image_path: str | None = None  # a local clip_image_enc.pt; null: the cache dir, else a download
    clip_text_path: str | None = None  # a local clip_text_enc.pt
    # Inpainting models: the text-to-image pair that makes generated source images (null: sources are files).
    source: SourceSpec | None = None
    # weights=toy: the toy world's planted truth table (harness/toy/world.py types and checks it).
    world: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for key in ("base", "upsample"):
            if getattr(self, key) not in PRESETS:
                raise GlideInputError(
                    f"model.{key}: unknown preset {getattr(self, key)!r}; allowed: {', '.join(PRESETS)}"
                )
        if self.clip not in CLIP_PRESETS:
            raise GlideInputError(f"model.clip: unknown preset {self.clip!r}; allowed: {', '.join(CLIP_PRESETS)}")
        if self.weights not in WEIGHTS:
            raise GlideInputError(f"model.weights: {self.weights!r} is not one of {', '.join(WEIGHTS)}")

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    @property
    def toy(self) -> bool:
        """Images rendered by the toy world, not sampled from GLIDE weights."""
        return self.weights == "toy"


# The noised CLIP's two checkpoint names (checkpoints.RELEASED_CHECKPOINTS) and the ModelSpec path fields.
CLIP_PARTS = {"clip_image_enc": "clip_image_path", "clip_text_enc": "clip_text_path"}
# Random noised-CLIP weights are drawn from model.seed + 2: the base and upsampler take seed and seed + 1.
CLIP_SEED_OFFSET = 2


# ModelConfig fields added after the first stores were written, with the value every earlier model had: left
# out of the architecture digest at that value, so stored samples of those models keep their keys.
_LATER_FIELDS = {"inpaint": False}


def _arch_fields(preset_name: str) -> dict:
    fields = preset(preset_name).to_dict()
    return {k: v for k, v in fields.items() if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}


def architecture_digest(spec: ModelSpec) -> str:
    """8 hex digits naming both stages' architectures (the model id's `@...` part)."""
    fields = [_arch_fields(spec.base), _arch_fields(spec.upsample)]
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
