"""The toy world as an image generator (harness.generate.boundary's Generator), its truth written beside the store.

`base` and `upsample` take the runner's requests and return uint8 images (batch, H, W, 3); each sample's truth
(what was drawn, where, by which planted probabilities) goes to <store>/truth/<stage>/<key>.json, a file no
scorer reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from harness.config.schema import SampleParams
from harness.generate.boundary import ProgressFn, Request
from harness.io import write_json
from harness.toy.render import base_image, render_scene, upsampled_image
from harness.toy.scene import Scene, compose
from harness.toy.world import World

TRUTH_DIR = "truth"


def truth_path(store_root: Path, stage: str, key: str) -> Path:
    """Where the truth of the sample stored under (stage, key) is recorded."""
    return Path(store_root) / TRUTH_DIR / stage / key[:2] / f"{key}.json"


def read_truth(store_root: Path, stage: str, key: str) -> dict:
    return json.loads(truth_path(store_root, stage, key).read_text())


def _scene(prompt: str, seed: int, params: SampleParams, world: World):
    scene = compose(prompt, seed, params.guidance, params.guidance_scale, world)
    clean, _ = render_scene(scene)
    return scene, clean


def render_base(prompt: str, seed: int, params: SampleParams, world: World) -> tuple[np.ndarray, dict]:
    """One sample's 64 px image and truth record, from the sampler's pixel fields (`params`)."""
    scene, clean = _scene(prompt, seed, params, world)
    return base_image(scene, clean), _record(scene, params, None)


def render_upsample(prompt: str, seed: int, params: SampleParams, world: World) -> tuple[np.ndarray, dict]:
    """One sample's 256 px image and truth record: the base's scene, by the upsample-temperature law."""
    scene, clean = _scene(prompt, seed, params, world)
    large, upsample = upsampled_image(scene, clean, params.upsample_temp, world)
    return large, _record(scene, params, upsample)


def render(prompt: str, seed: int, params: SampleParams, world: World) -> tuple[np.ndarray, np.ndarray, dict]:
    """Both images of one sample and the 256 px image's truth record."""
    scene, clean = _scene(prompt, seed, params, world)
    large, upsample = upsampled_image(scene, clean, params.upsample_temp, world)
    return base_image(scene, clean), large, _record(scene, params, upsample)


def _record(scene: Scene, params: SampleParams, upsample: dict | None) -> dict:
    record = scene.as_record()
    record["params"] = params.stage_fields()
    record["upsample"] = upsample
    lake = [i for i in record["items"] if i["named"] == "lake" and i["drawn"] is not None]
    record["lake_area"] = lake[0]["area"] if lake else None
    religious = [i["cls"] for i in record["items"] if i["named"] == "religious"]
    record["religious_class"] = religious[0] if religious else None
    return record


class ToyGenerator:
    """Renders the toy world for the runner (the upsampler re-renders the scene that the base drew, as GLIDE's
    upsampler redraws the picture its 64 px input shows). The loops' steps and options leave the picture as it
    is (a planted no-effect); an inpainting request is refused (the toy world runs text-to-image only)."""

    def __init__(self, world: World, store_root: Path):
        self.world = world
        self.store_root = Path(store_root)

    def base(self, requests: Sequence[Request], progress: ProgressFn | None = None) -> torch.Tensor:
        """64 px images."""
        images = []
        for k, request in enumerate(requests):
            _text_only(request)
            small, record = render_base(request.prompt.text, request.seed, request.params, self.world)
            path = truth_path(self.store_root, "base", request.base_key)
            write_json(path, {"stage": "base", "key": request.base_key, **record})
            images.append(small)
            if progress is not None:
                progress(k + 1, len(requests))
        return torch.from_numpy(np.stack(images))

    def upsample(
        self, requests: Sequence[Request], images_64: torch.Tensor, progress: ProgressFn | None = None
    ) -> torch.Tensor:
        """256 px images of the same scenes, sharpened and grained by the upsample-temperature law."""
        images = []
        for k, request in enumerate(requests):
            _text_only(request)
            large, record = render_upsample(request.prompt.text, request.seed, request.params, self.world)
            write_json(
                truth_path(self.store_root, "upsample", request.key),
                {"stage": "upsample", "key": request.key, "base_key": request.base_key, **record},
            )
            images.append(large)
            if progress is not None:
                progress(k + 1, len(requests))
        return torch.from_numpy(np.stack(images))


def _text_only(request: Request) -> None:
    if request.prompt.has_inputs:
        raise ValueError("the toy world does not inpaint")
