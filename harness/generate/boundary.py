"""The boundary between what makes images and what runs, stores and scores them.

A Generator makes one stage's images for a batch of Requests; the runner batches, claims keys, times and
stores, and knows nothing of how the images are made. GLIDE is one generator (harness.generate.glide_generator), the toy
world another (harness.toy.generator); a second model family (a diffusers pipeline) would be one more.

A Mode is a way of making images with the same models that needs more than a prompt: inpainting's source image
and keep-mask. It is chosen by the model config, checks the suite, adds its inputs to the content keys and to
each batch, and its columns to the manifest; the runner, the job and the command's checks only call the
protocol. (CLIP guidance is a guidance, registered in harness/glide/guidance.py: it changes how each step's
mean moves, in any mode.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.config.schema import SampleParams
from harness.config.suites import Prompt
from harness.glide.spec import ModelSpec

if TYPE_CHECKING:
    import torch

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Request:
    """One image to make: its prompt, seed and typed sampling parameters, and the content keys its base and
    upsampled images are stored under (a generator that records beside the store names its records by them)."""

    prompt: Prompt
    seed: int
    params: SampleParams
    base_key: str
    key: str


class Generator(Protocol):
    """Makes images. Every request of one call shares its parameters (the runner batches them so).

    A generator built of networks may name them per stage in a mapping `unets` ("base", "upsample"); the
    runner then counts their forward calls."""

    def base(self, requests: Sequence[Request], progress: ProgressFn | None = None) -> torch.Tensor:
        """The 64 px images, uint8 (batch, 64, 64, 3)."""
        ...

    def upsample(
        self, requests: Sequence[Request], images_64: torch.Tensor, progress: ProgressFn | None = None
    ) -> torch.Tensor:
        """The 256 px images of the 64 px ones, uint8 (batch, 256, 256, 3)."""
        ...


TEXT_TO_IMAGE = "text2im"


class Mode:
    """A way of making images; the base class is text-to-image's behaviour at every hook."""

    name = TEXT_TO_IMAGE

    def applies(self, model: ModelSpec) -> bool:
        """Whether `model` runs in this mode (the model config chooses it)."""
        return True

    def model_for(self, model: str, prompts: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
        """(the model that runs, a note) when a suite's prompts need this mode and `model` names a model of
        another mode that has a counterpart in this one; else None. Read from the composed config, before
        Hydra starts, so the job composes, saves and logs the model that runs."""
        return None

    def check(self, prompts: Sequence[Prompt], model: ModelSpec) -> None:
        """Refuse (ConfigError) a suite whose prompts this mode cannot make."""

    def key_fields(self, prompt: Prompt) -> dict[str, Any]:
        """What the mode adds to a base image's content key besides prompt, seed and parameters."""
        return {}

    def inputs(self, requests: Sequence[Request], stage: str) -> dict[str, Any]:
        """Extra keyword arguments of one batch's call to the model at `stage`."""
        return {}

    def columns(self, prompt: Prompt, store_root: Path) -> dict[str, Any]:
        """The mode's manifest columns of a prompt's samples."""
        return {}


MODES: dict[str, Mode] = {}


def register_mode(mode: Mode) -> None:
    """Add a mode; a mode registered later is chosen over an earlier one where both apply."""
    MODES[mode.name] = mode


def mode_of(model: ModelSpec) -> Mode:
    """The mode `model` runs in: the last registered mode that applies, text-to-image where none other does."""
    chosen = [mode for name, mode in MODES.items() if name != TEXT_TO_IMAGE and mode.applies(model)]
    return chosen[-1] if chosen else MODES[TEXT_TO_IMAGE]
