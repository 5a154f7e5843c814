"""A mode added from outside the harness: outpainting around a grey square, in one module.

The mode registers itself, with the model config that chooses it (`model=tiny_outpaint`: the tiny inpainting
pair with random weights). Every prompt is drawn around a mid-grey 32 px square kept at the centre of the
64 px image; the square enters the base image's content key and the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore

from harness.config.suites import Prompt
from harness.errors import ConfigError
from harness.generate.boundary import Mode, Request, register_mode
from harness.glide.spec import ModelSpec

MODEL = "tiny_outpaint"
KEPT = (16, 48)  # rows and columns of the kept square, [start, stop)


class Outpaint(Mode):
    name = "outpaint"

    def applies(self, model: ModelSpec) -> bool:
        return model.name == MODEL

    def check(self, prompts: Sequence[Prompt], model: ModelSpec) -> None:
        for prompt in prompts:
            if prompt.image is not None or prompt.mask is not None:
                raise ConfigError(f"model={model.name} outpaints a grey square: prompt {prompt.id!r} takes no image")

    def key_fields(self, prompt: Prompt) -> dict[str, Any]:
        return {"outpaint_square": list(KEPT)}

    def inputs(self, requests: Sequence[Request], stage: str) -> dict[str, Any]:
        import torch

        from harness.glide.pipeline import KnownPixels

        size = 64 if stage == "base" else 256
        mask = torch.zeros(len(requests), 1, 64, 64)
        mask[:, :, KEPT[0] : KEPT[1], KEPT[0] : KEPT[1]] = 1.0
        return {"known": KnownPixels(torch.zeros(len(requests), 3, size, size), mask)}  # 0 in [-1, 1]: mid-grey

    def columns(self, prompt: Prompt, store_root: Path) -> dict[str, Any]:
        return {"outpaint_square": f"{KEPT[0]}:{KEPT[1]}"}


register_mode(Outpaint())
ConfigStore.instance().store(
    group="model",
    name=MODEL,
    package="_global_",
    node={
        "model": {"name": MODEL, "base": "tiny_base_inpaint", "upsample": "tiny_upsample_inpaint", "weights": "random"},
        "scorers": ["clip"],
        "scorer": {"clip": {"model": "harness-tiny-clip", "pretrained": None}},
    },
)
