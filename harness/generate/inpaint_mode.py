"""Inpainting: the released inpainting pair repaints a prompt's source image where its keep-mask is black.

Its prompts carry an `image` (a path, or a generated source {prompt, seed}) and a `mask`; their pixels are read
and digested with the suite (harness/config/inpaint_inputs.py), enter the base image's content key, reach the
pipeline as known pixels at both stages, and the manifest gets the source's path and the mask as a PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.config.suites import Prompt
from harness.errors import ConfigError
from harness.generate.boundary import Mode, Request, register_mode
from harness.glide.presets import preset
from harness.glide.spec import ModelSpec

# The inpainting pair a text-to-image model's name stands for when the suite inpaints: only that pair can run
# its prompts, so `+suite=inpaint model=tiny` means model=tiny_inpaint, with that preset's sampler settings.
INPAINTING_MODELS = {"glide": "glide_inpaint", "tiny": "tiny_inpaint"}


def _has_inputs(prompt: Prompt | Mapping[str, Any]) -> bool:
    """Whether a prompt (a suite's, or a composed config's mapping) carries an image, a mask or a generated source."""
    if isinstance(prompt, Mapping):
        return any(prompt.get(key) is not None for key in ("image", "mask", "source"))
    return prompt.has_inputs


class Inpaint(Mode):
    name = "inpaint"

    def applies(self, model: ModelSpec) -> bool:
        return preset(model.base).inpaint

    def model_for(self, model: str, prompts: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
        if model not in INPAINTING_MODELS or not any(_has_inputs(p) for p in prompts):
            return None
        return INPAINTING_MODELS[model], f"inpaints: model={model} runs as model={INPAINTING_MODELS[model]}"

    def check(self, prompts: Sequence[Prompt], model: ModelSpec) -> None:
        for prompt in prompts:
            if not _has_inputs(prompt):
                raise ConfigError(
                    f"model={model.name} inpaints: prompt {prompt.id!r} needs an image and a mask (e.g. +suite=inpaint)"
                )

    def key_fields(self, prompt: Prompt) -> dict[str, Any]:
        return {"inpaint_inputs": prompt.inputs_digest} if prompt.inputs_digest is not None else {}

    def inputs(self, requests: Sequence[Request], stage: str) -> dict[str, Any]:
        from harness.config.inpaint_inputs import batch_known, prompt_inputs  # torch: only when sampling

        return {"known": batch_known([prompt_inputs(r.prompt) for r in requests], stage)}

    def columns(self, prompt: Prompt, store_root: Path) -> dict[str, Any]:
        """The source image's path, the 64 px keep-mask as a PNG in the store (the scorer and the report read
        both) and, for a generated source, the prompt and seed it was made of."""
        from harness.config.inpaint_inputs import prompt_inputs, store_mask

        known = prompt_inputs(prompt)
        return {
            "path_source": str(Path(prompt.image).expanduser().resolve()),
            "path_mask": str(store_mask(store_root, known.mask_64)),
            "source_prompt": prompt.source.prompt if prompt.source is not None else None,
            "source_seed": prompt.source.seed if prompt.source is not None else None,
        }


register_mode(Inpaint())
