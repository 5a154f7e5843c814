"""Text-to-image: a prompt's text is all the models take; a prompt with an image or a mask is refused."""

from __future__ import annotations

from collections.abc import Sequence

from harness.config.suites import Prompt
from harness.errors import ConfigError
from harness.generate.boundary import Mode, register_mode
from harness.glide.spec import ModelSpec


class TextToImage(Mode):
    name = "text2im"

    def check(self, prompts: Sequence[Prompt], model: ModelSpec) -> None:
        for prompt in prompts:
            if prompt.has_inputs:
                raise ConfigError(
                    f"prompt {prompt.id!r} has an image and a mask, which model={model.name} cannot use; "
                    "use an inpainting model (model=glide_inpaint or model=tiny_inpaint)"
                )


register_mode(TextToImage())
