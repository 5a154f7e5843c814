"""Guidance by name: how a base stage is steered toward its prompt, either a combine or a mean shift.

A combine mixes the doubled batch's conditional and unconditional outputs (classifier-free); a gradient
guidance shifts each ancestral step's mean by the noised CLIP's gradient (CLIP guidance, no doubled batch).
The built-in guidances import torch when they first run: checking a config imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .bad_input import GlideInputError

if TYPE_CHECKING:
    import torch

    from .noised_clip import ImageEncoder

# combine(cond_out, uncond_out, scale) -> the 6-channel output the loop sees.
Combine = Callable[["torch.Tensor", "torch.Tensor", float], "torch.Tensor"]
# gradient(image_encoder, text_emb, x_t, t, scale) -> scale * d/dx_t of the guide's score (t: ORIGINAL timesteps).
Gradient = Callable[["ImageEncoder", "torch.Tensor", "torch.Tensor", "torch.Tensor", float], "torch.Tensor"]


@dataclass(frozen=True)
class Guidance:
    """Exactly one of `combine` (runs on the doubled batch) and `gradient` (needs the noised CLIP and a loop
    that takes a mean shift, i.e. a `cond_fn` hook)."""

    combine: Combine | None = None
    gradient: Gradient | None = None

    def __post_init__(self) -> None:
        if (self.combine is None) == (self.gradient is None):
            raise ValueError("a guidance is either a combine or a gradient, not both or neither")

    @property
    def needs_guide(self) -> bool:
        """Whether the noised CLIP must be loaded with the base model."""
        return self.gradient is not None


def classifier_free(cond_out: torch.Tensor, uncond_out: torch.Tensor, scale: float) -> torch.Tensor:
    """uncond + s * (cond - uncond) on the 3 eps channels; the variance channels are the conditional rows'
    own, as in the official notebook (guiding the learned variance would change the posterior's width)."""
    import torch

    eps = uncond_out[:, :3] + scale * (cond_out[:, :3] - uncond_out[:, :3])
    return torch.cat([eps, cond_out[:, 3:]], dim=1)


def clip_guidance_grad(
    image_encoder: ImageEncoder, text_emb: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, scale: float
) -> torch.Tensor:
    """The noised CLIP's guidance gradient (glide/noised_clip.py)."""
    from .noised_clip import clip_guidance_grad as gradient

    return gradient(image_encoder, text_emb, x_t, t, scale)


GUIDANCE: dict[str, Guidance] = {
    "classifier_free": Guidance(combine=classifier_free),
    # The official clip_guided notebook: the base sees only the prompt, cond_fn = scale * grad of the noised CLIP.
    "clip": Guidance(gradient=clip_guidance_grad),
}


def register_guidance(name: str, combine: Combine | None = None, *, gradient: Gradient | None = None) -> None:
    """Make a combine (or, with `gradient=`, a mean-shift guidance) available as `sampler.guidance=NAME`
    (plugins call this at import)."""
    GUIDANCE[name] = Guidance(combine=combine, gradient=gradient)


def get_guidance(name: str) -> Guidance:
    """The guidance named `name`, or a one-line error listing the known ones."""
    if name not in GUIDANCE:
        raise GlideInputError(f"sampler.guidance: unknown guidance {name!r}; allowed: {', '.join(GUIDANCE)}")
    return GUIDANCE[name]
