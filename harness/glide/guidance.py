"""Guidance by name: how a stage's conditional and unconditional model outputs become the output the loop sees.

Each guidance is a pure function of tensors; the pipeline chooses one by the name in `sampler.guidance`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .errors import GlideInputError

# combine(cond_out, uncond_out, scale) -> the 6-channel output the loop sees.
Combine = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


def classifier_free(cond_out: torch.Tensor, uncond_out: torch.Tensor, scale: float) -> torch.Tensor:
    """uncond + s * (cond - uncond) on the 3 eps channels; the variance channels are the conditional rows'
    own, as in the official notebook (guiding the learned variance would change the posterior's width)."""
    eps = uncond_out[:, :3] + scale * (cond_out[:, :3] - uncond_out[:, :3])
    return torch.cat([eps, cond_out[:, 3:]], dim=1)


GUIDANCE: dict[str, Combine] = {"classifier_free": classifier_free}


def register_guidance(name: str, combine: Combine) -> None:
    """Make `combine` available as `sampler.guidance=NAME` (plugins call this at import)."""
    GUIDANCE[name] = combine


def get_guidance(name: str) -> Combine:
    """The guidance named `name`, or a one-line error listing the known ones."""
    if name not in GUIDANCE:
        raise GlideInputError(f"sampler.guidance: unknown guidance {name!r}; allowed: {', '.join(GUIDANCE)}")
    return GUIDANCE[name]
