"""Sampling loops over a respaced GLIDE schedule: ancestral (DDPM) and DDIM, one short function each.

The model, the noise and the progress report come in as callables: no hidden state, no global RNG.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

import torch

from harness.glide.diffusion import DenoisedFn, Schedule, ddim_step, p_sample_step

log = logging.getLogger(__name__)

# model_fn(x, t) -> 6-channel output, where t holds the ORIGINAL timesteps (timestep_map[index]).
ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# noise_fn(step, like) -> Gaussian noise shaped like `like` for loop step `step` (0 = the noisiest step).
NoiseFn = Callable[[int, torch.Tensor], torch.Tensor]
# progress(steps_done, total)
ProgressFn = Callable[[int, int], None]
# cond_fn(x, t) -> the gradient that shifts an ancestral step's mean (CLIP guidance), t the ORIGINAL timesteps.
CondFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _loop_steps(sched: Schedule, x: torch.Tensor) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield (loop step, respaced index, original timestep) per batch row, from the noisiest index down."""
    timestep_map = torch.tensor(sched.timestep_map, dtype=torch.long, device=x.device)
    for step, i in enumerate(reversed(range(sched.num_steps))):
        index = torch.full((x.shape[0],), i, dtype=torch.long, device=x.device)
        yield step, index, timestep_map[index]


@torch.no_grad()
def sample_ancestral(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    sched: Schedule,
    noise_fn: NoiseFn,
    clip_denoised: bool = True,
    progress: ProgressFn | None = None,
    *,
    denoised_fn: DenoisedFn | None = None,
    cond_fn: CondFn | None = None,
) -> torch.Tensor:
    """Run the ancestral (DDPM) loop from x_T; noise_fn is called once per step, the last one included.

    `denoised_fn` edits each x_0 prediction before clipping; `cond_fn(x, t)` shifts each mean by
    variance * cond_fn(x, t).
    """
    log.debug("ancestral sampling: %d steps, batch %d", sched.num_steps, x_T.shape[0])
    x = x_T
    for step, index, t in _loop_steps(sched, x):
        grad = None if cond_fn is None else cond_fn(x, t)
        x = p_sample_step(sched, model_fn(x, t), x, index, noise_fn(step, x), clip_denoised, denoised_fn, grad)
        if progress is not None:
            progress(step + 1, sched.num_steps)
    return x


@torch.no_grad()
def sample_ddim(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    sched: Schedule,
    eta: float = 0.0,
    noise_fn: NoiseFn | None = None,
    clip_denoised: bool = True,
    progress: ProgressFn | None = None,
    *,
    denoised_fn: DenoisedFn | None = None,
) -> torch.Tensor:
    """Run the DDIM loop from x_T; noise_fn is needed only for eta > 0 (called once per step when given).

    `denoised_fn` edits each x_0 prediction before clipping, as in the ancestral loop.
    """
    if eta < 0:
        raise ValueError(f"DDIM eta {eta!r} invalid: must be >= 0")
    if eta != 0 and noise_fn is None:
        raise ValueError(f"DDIM eta {eta!r} needs a noise_fn; pass one or use eta=0")
    log.debug("DDIM sampling: %d steps, eta %s, batch %d", sched.num_steps, eta, x_T.shape[0])
    x = x_T
    for step, index, t in _loop_steps(sched, x):
        noise = None if noise_fn is None else noise_fn(step, x)
        x = ddim_step(sched, model_fn(x, t), x, index, eta, noise, clip_denoised, denoised_fn)
        if progress is not None:
            progress(step + 1, sched.num_steps)
    return x


def randn_from_generators(
    generators: Sequence[torch.Generator],
    shape: Sequence[int],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A batch of standard normal rows of `shape`, row i drawn from generators[i] on that generator's device.

    Use it for x_T too, so a sample's whole randomness comes from its own generator.
    """
    rows = [torch.randn(tuple(shape), generator=g, dtype=dtype, device=g.device) for g in generators]
    return torch.stack(rows).to(device=device)


def noise_from_generators(generators: Sequence[torch.Generator]) -> NoiseFn:
    """A noise_fn drawing each batch row from its own generator, independent of batch size and position."""
    generators = list(generators)

    def noise_fn(step: int, like: torch.Tensor) -> torch.Tensor:
        if like.shape[0] != len(generators):
            raise ValueError(f"batch of {like.shape[0]} rows but {len(generators)} generators")
        return randn_from_generators(generators, like.shape[1:], like.dtype, like.device)

    return noise_fn


def noise_from_list(tensors: Sequence[torch.Tensor]) -> NoiseFn:
    """A noise_fn replaying recorded noise: loop step k gets tensors[k]."""

    def noise_fn(step: int, like: torch.Tensor) -> torch.Tensor:
        if step >= len(tensors):
            raise ValueError(f"no recorded noise for loop step {step}: only {len(tensors)} tensors given")
        noise = tensors[step]
        if noise.shape != like.shape:
            raise ValueError(
                f"recorded noise of step {step} has shape {tuple(noise.shape)}, expected {tuple(like.shape)}"
            )
        return noise.to(device=like.device, dtype=like.dtype)

    return noise_fn
