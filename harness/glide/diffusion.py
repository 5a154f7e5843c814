"""Gaussian diffusion arithmetic of GLIDE: noise schedules, timestep respacing and single sampling steps.

Schedules are float64 NumPy; steps are pure functions on torch tensors and never touch a model or an RNG.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .presets import NOISE_SCHEDULES
from .respacing import space_timesteps

# denoised_fn(x0) -> x0: applied to the x_0 prediction before clipping (inpainting imposes the known pixels).
DenoisedFn = Callable[[torch.Tensor], torch.Tensor]

# Improved DDPM (Nichol & Dhariwal 2021), eq. 17: the cosine schedule's offset s and its beta cap.
_COSINE_OFFSET = 0.008
_MAX_BETA = 0.999


def betas_for_schedule(name: str, num_steps: int) -> np.ndarray:
    """Per-step betas (float64) of the named schedule over `num_steps` diffusion steps."""
    if num_steps < 1:
        raise ValueError(f"diffusion steps {num_steps!r} invalid: must be a positive integer")
    if name == "linear":
        # DDPM's 1e-4..0.02 over 1000 steps, rescaled so other step counts keep the same total noise.
        scale = 1000 / num_steps
        return np.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=np.float64)
    if name == "squaredcos_cap_v2":
        t = np.arange(num_steps + 1, dtype=np.float64) / num_steps
        alpha_bar = np.cos((t + _COSINE_OFFSET) / (1 + _COSINE_OFFSET) * math.pi / 2) ** 2
        return np.minimum(1 - alpha_bar[1:] / alpha_bar[:-1], _MAX_BETA)
    raise ValueError(f"noise schedule {name!r} unknown: allowed are {', '.join(NOISE_SCHEDULES)}")


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Schedule:
    """A (respaced) diffusion schedule: index i of every array is the i-th kept step, all float64.

    `timestep_map[i]` is the original timestep that the model sees at index i.
    """

    noise_schedule: str
    diffusion_steps: int
    respacing: str
    timestep_map: np.ndarray
    betas: np.ndarray
    log_betas: np.ndarray
    alphas_cumprod: np.ndarray
    alphas_cumprod_prev: np.ndarray
    sqrt_recip_alphas_cumprod: np.ndarray
    sqrt_recipm1_alphas_cumprod: np.ndarray
    posterior_variance: np.ndarray
    posterior_log_variance_clipped: np.ndarray
    posterior_mean_coef1: np.ndarray
    posterior_mean_coef2: np.ndarray

    @property
    def num_steps(self) -> int:
        return len(self.timestep_map)

    @classmethod
    def create(cls, noise_schedule: str, diffusion_steps: int, respacing: str) -> Schedule:
        """Build the schedule of `noise_schedule` over `diffusion_steps`, keeping the steps of `respacing`."""
        base_alphas_cumprod = np.cumprod(1.0 - betas_for_schedule(noise_schedule, diffusion_steps))
        kept = np.asarray(space_timesteps(diffusion_steps, respacing), dtype=np.int64)
        alphas_cumprod = base_alphas_cumprod[kept]
        alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])
        # Respacing keeps alpha_bar at the kept steps; the betas follow from consecutive ratios.
        betas = 1.0 - alphas_cumprod / alphas_cumprod_prev
        # DDPM (Ho et al. 2020) eq. 6-7: the posterior q(x_{t-1} | x_t, x_0).
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        # The posterior variance is 0 at index 0; its log is clipped to the value of index 1.
        clipped = np.log(np.append(posterior_variance[1], posterior_variance[1:]))
        return cls(
            noise_schedule=noise_schedule,
            diffusion_steps=diffusion_steps,
            respacing=respacing,
            timestep_map=_read_only(kept),
            betas=_read_only(betas),
            log_betas=_read_only(np.log(betas)),
            alphas_cumprod=_read_only(alphas_cumprod),
            alphas_cumprod_prev=_read_only(alphas_cumprod_prev),
            sqrt_recip_alphas_cumprod=_read_only(np.sqrt(1.0 / alphas_cumprod)),
            sqrt_recipm1_alphas_cumprod=_read_only(np.sqrt(1.0 / alphas_cumprod - 1.0)),
            posterior_variance=_read_only(posterior_variance),
            posterior_log_variance_clipped=_read_only(clipped),
            posterior_mean_coef1=_read_only(betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod)),
            posterior_mean_coef2=_read_only(
                (1.0 - alphas_cumprod_prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod)
            ),
        )


def _gather(table: np.ndarray, index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # Gather in float64 on the CPU (some devices lack float64), then cast once to x's dtype and device,
    # shaped to broadcast over every non-batch axis of `like`.
    values = torch.from_numpy(table[index.cpu().numpy()]).to(device=like.device, dtype=like.dtype)
    return values.reshape(-1, *([1] * (like.ndim - 1)))


def _nonzero_mask(index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return (index != 0).to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def p_mean_variance(
    sched: Schedule,
    model_output: torch.Tensor,
    x: torch.Tensor,
    index: torch.Tensor,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean and log-variance of p(x_{index-1} | x_index) and the x_0 prediction, from a 6-channel output.

    `model_output` holds eps then the variance values v (learned range, Improved DDPM eq. 15):
    log variance = frac * log(beta) + (1 - frac) * clipped posterior log variance, frac = (v + 1) / 2.
    `denoised_fn` changes the x_0 prediction before it is clipped; the mean follows from the changed x_0.
    """
    channels = x.shape[1]
    if model_output.shape[1] != 2 * channels:
        raise ValueError(
            f"model output has {model_output.shape[1]} channels; expected {2 * channels} (eps and variance)"
        )
    eps, var_values = torch.split(model_output, channels, dim=1)
    frac = (var_values + 1) / 2
    min_log = _gather(sched.posterior_log_variance_clipped, index, x)
    max_log = _gather(sched.log_betas, index, x)
    log_variance = frac * max_log + (1 - frac) * min_log
    pred_xstart = _gather(sched.sqrt_recip_alphas_cumprod, index, x) * x - (
        _gather(sched.sqrt_recipm1_alphas_cumprod, index, x) * eps
    )
    if denoised_fn is not None:
        pred_xstart = denoised_fn(pred_xstart)
    if clip_denoised:
        pred_xstart = pred_xstart.clamp(-1, 1)
    mean = _gather(sched.posterior_mean_coef1, index, x) * pred_xstart + (
        _gather(sched.posterior_mean_coef2, index, x) * x
    )
    return mean, log_variance, pred_xstart


def p_sample_step(
    sched: Schedule,
    model_output: torch.Tensor,
    x: torch.Tensor,
    index: torch.Tensor,
    noise: torch.Tensor,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
    mean_grad: torch.Tensor | None = None,
) -> torch.Tensor:
    """One ancestral (DDPM) step x_index -> x_{index-1}; rows at index 0 return the mean without noise.

    `mean_grad` (the gradient of a log-likelihood such as a CLIP score at x_index) shifts the mean by
    variance * gradient (Dhariwal & Nichol 2021, Algorithm 1; the official `condition_mean`).
    """
    mean, log_variance, _ = p_mean_variance(sched, model_output, x, index, clip_denoised, denoised_fn)
    if mean_grad is not None:
        mean = shifted_mean(mean, log_variance, mean_grad)
    return mean + _nonzero_mask(index, x) * torch.exp(0.5 * log_variance) * noise


def shifted_mean(mean: torch.Tensor, log_variance: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Classifier(-like) guidance of an ancestral step: mean + exp(log variance) * grad."""
    return mean + torch.exp(log_variance) * grad.to(mean.dtype)


def ddim_step(
    sched: Schedule,
    model_output: torch.Tensor,
    x: torch.Tensor,
    index: torch.Tensor,
    eta: float,
    noise: torch.Tensor | None,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
) -> torch.Tensor:
    """One DDIM step x_index -> x_{index-1} (Song et al. 2021, eq. 12); `noise` may be None when eta is 0.

    eps is re-derived from the (clipped) x_0 prediction, so clipping also shapes the direction term.
    """
    if noise is None and eta != 0:
        raise ValueError(f"DDIM with eta={eta} needs noise; pass a noise tensor or use eta=0")
    _, _, pred_xstart = p_mean_variance(sched, model_output, x, index, clip_denoised, denoised_fn)
    eps = (_gather(sched.sqrt_recip_alphas_cumprod, index, x) * x - pred_xstart) / _gather(
        sched.sqrt_recipm1_alphas_cumprod, index, x
    )
    alpha_bar = _gather(sched.alphas_cumprod, index, x)
    alpha_bar_prev = _gather(sched.alphas_cumprod_prev, index, x)
    sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
    sample = pred_xstart * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev - sigma**2) * eps
    if noise is None:
        return sample
    return sample + _nonzero_mask(index, x) * sigma * noise
