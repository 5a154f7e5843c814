"""The toy world as an image generator: the same two calls as GlidePipeline, its truth written beside the store.

`sample_base` and `upsample` take GLIDE's arguments and return uint8 images (batch, H, W, 3); each sample's
truth (what was drawn, where, by which planted probabilities) goes to <store>/truth/<stage>/<key>.json, a file
no scorer reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from harness.config.suites import Prompt
from harness.io import write_json
from harness.run.plan import SampleSpec, Sampling
from harness.toy.render import base_image, render_scene, upsampled_image
from harness.toy.scene import Scene, compose
from harness.toy.world import World

TRUTH_DIR = "truth"


def truth_path(store_root: Path, stage: str, key: str) -> Path:
    """Where the truth of the sample stored under (stage, key) is recorded."""
    return Path(store_root) / TRUTH_DIR / stage / key[:2] / f"{key}.json"


def read_truth(store_root: Path, stage: str, key: str) -> dict:
    return json.loads(truth_path(store_root, stage, key).read_text())


def _scene(prompt: str, seed: int, params: dict, world: World):
    scene = compose(prompt, seed, params["guidance"], float(params["guidance_scale"]), world)
    clean, _ = render_scene(scene)
    return scene, clean


def render_base(prompt: str, seed: int, params: dict, world: World) -> tuple[np.ndarray, dict]:
    """One sample's 64 px image and truth record, from the sampler's pixel fields (`params`)."""
    scene, clean = _scene(prompt, seed, params, world)
    return base_image(scene, clean), _record(scene, params, None)


def render_upsample(prompt: str, seed: int, params: dict, world: World) -> tuple[np.ndarray, dict]:
    """One sample's 256 px image and truth record: the base's scene, by the upsample-temperature law."""
    scene, clean = _scene(prompt, seed, params, world)
    large, upsample = upsampled_image(scene, clean, float(params["upsample_temp"]), world)
    return large, _record(scene, params, upsample)


def render(prompt: str, seed: int, params: dict, world: World) -> tuple[np.ndarray, np.ndarray, dict]:
    """Both images of one sample and the 256 px image's truth record."""
    scene, clean = _scene(prompt, seed, params, world)
    large, upsample = upsampled_image(scene, clean, float(params["upsample_temp"]), world)
    return base_image(scene, clean), large, _record(scene, params, upsample)


def _record(scene: Scene, params: dict, upsample: dict | None) -> dict:
    record = scene.as_record()
    record["params"] = dict(params)
    record["upsample"] = upsample
    lake = [i for i in record["items"] if i["named"] == "lake" and i["drawn"] is not None]
    record["lake_area"] = lake[0]["area"] if lake else None
    religious = [i["cls"] for i in record["items"] if i["named"] == "religious"]
    record["religious_class"] = religious[0] if religious else None
    return record


class ToyGenerator:
    """Renders the toy world for the runner. `sampling` names the run's parameters (the upsampler re-renders
    the scene that the base drew, as GLIDE's upsampler redraws the picture its 64 px input shows)."""

    def __init__(self, world: World, sampling: Sampling, store_root: Path):
        self.world = world
        self.sampling = sampling
        self.store_root = Path(store_root)

    def _keys(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[SampleSpec]:
        return [SampleSpec(Prompt(id="", text=p), int(s), self.sampling) for p, s in zip(prompts, seeds, strict=True)]

    def _params(self, **stage_params) -> dict:
        return {**dict(self.sampling.params), **stage_params}

    def sample_base(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        *,
        guidance_scale: float,
        guidance: str = "classifier_free",
        progress=None,
        known=None,
        **loop,
    ) -> torch.Tensor:
        """64 px images; the loop's steps and options leave the picture as it is (a planted no-effect)."""
        if known is not None:
            raise ValueError("the toy world does not inpaint")
        params = self._params(guidance=guidance, guidance_scale=guidance_scale)
        images = []
        for k, spec in enumerate(self._keys(prompts, seeds)):
            small, record = render_base(spec.prompt.text, spec.seed, params, self.world)
            write_json(
                truth_path(self.store_root, "base", spec.base_key), {"stage": "base", "key": spec.base_key, **record}
            )
            images.append(small)
            if progress is not None:
                progress(k + 1, len(prompts))
        return torch.from_numpy(np.stack(images))

    def upsample(
        self,
        prompts: Sequence[str],
        images_64: torch.Tensor,
        seeds: Sequence[int],
        *,
        temperature: float,
        progress=None,
        known=None,
        **loop,
    ) -> torch.Tensor:
        """256 px images of the same scenes, sharpened and grained by the upsample-temperature law."""
        if known is not None:
            raise ValueError("the toy world does not inpaint")
        params = self._params(upsample_temp=temperature)
        images = []
        for k, spec in enumerate(self._keys(prompts, seeds)):
            large, record = render_upsample(spec.prompt.text, spec.seed, params, self.world)
            write_json(
                truth_path(self.store_root, "upsample", spec.key),
                {"stage": "upsample", "key": spec.key, "base_key": spec.base_key, **record},
            )
            images.append(large)
            if progress is not None:
                progress(k + 1, len(prompts))
        return torch.from_numpy(np.stack(images))
