"""Specification of the loops' guidance hooks: `denoised_fn` edits x_0 before clipping, `cond_fn` shifts the mean.

Checked against the closed forms of DDPM (Ho et al. 2020, eq. 6-7), DDIM (Song et al. 2021, eq. 12) and guided
diffusion (Dhariwal & Nichol 2021, Algorithm 1: mean + variance * gradient), in float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from harness.glide.diffusion import Schedule, ddim_step, p_mean_variance, p_sample_step, shifted_mean
from harness.glide.first_order import noise_from_list, sample_ancestral, sample_ddim

TIMESTEPS = list(range(0, 1000, 100))  # what "ddim10" keeps


def _alpha_bar(num_steps: int = 1000) -> np.ndarray:
    def f(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [min(1 - f((i + 1) / num_steps) / f(i / num_steps), 0.999) for i in range(num_steps)]
    return np.cumprod(1 - np.array(betas))


ALPHA_BAR = _alpha_bar()


def _posterior(i: int) -> tuple[float, float, float, float]:
    """(ab, ab_prev, beta, posterior variance) of respaced index i of ddim10."""
    ab = float(ALPHA_BAR[TIMESTEPS[i]])
    ab_prev = float(ALPHA_BAR[TIMESTEPS[i - 1]]) if i else 1.0
    beta = 1 - ab / ab_prev
    return ab, ab_prev, beta, beta * (1 - ab_prev) / (1 - ab)


def _case(seed: int = 0, shape=(2, 3, 4, 4)):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    eps = torch.randn(shape, generator=generator, dtype=torch.float64)
    return x, eps


def _output(eps: torch.Tensor, v: float) -> torch.Tensor:
    return torch.cat([eps, torch.full_like(eps, v)], dim=1)


SCHED = Schedule.create("squaredcos_cap_v2", 1000, "ddim10")


def test_denoised_fn_acts_before_clipping_and_the_mean_follows_its_x0():
    x, eps = _case()
    i = 6
    ab, ab_prev, beta, _ = _posterior(i)
    index = torch.full((2,), i)
    edited = torch.full_like(x, 3.0)  # outside [-1, 1]: clipping must come after the edit
    mean, _, pred_xstart = p_mean_variance(SCHED, _output(eps, 0.0), x, index, denoised_fn=lambda x0: edited)
    torch.testing.assert_close(pred_xstart, torch.ones_like(x), rtol=0, atol=0)
    coef1, coef2 = math.sqrt(ab_prev) * beta / (1 - ab), math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)
    torch.testing.assert_close(mean, coef1 * 1.0 + coef2 * x, rtol=0, atol=1e-12)
    _, _, raw = p_mean_variance(SCHED, _output(eps, 0.0), x, index, False, lambda x0: edited)
    torch.testing.assert_close(raw, edited, rtol=0, atol=0)


def test_denoised_fn_receives_the_unclipped_x0_prediction():
    x, eps = _case(seed=1)
    i = 9
    ab = _posterior(i)[0]
    seen = []
    p_mean_variance(SCHED, _output(eps, 0.0), x, torch.full((2,), i), denoised_fn=lambda x0: seen.append(x0) or x0)
    expected = x / math.sqrt(ab) - math.sqrt(1 / ab - 1) * eps  # DDPM eq. 15 solved for x_0
    assert float(expected.abs().max()) > 1  # some values would be clipped
    torch.testing.assert_close(seen[0], expected, rtol=0, atol=1e-10)


def test_mean_grad_shifts_the_ancestral_mean_by_variance_times_gradient():
    x, eps = _case(seed=2)
    grad, noise = _case(seed=3)
    i, v = 4, 0.4
    _, _, beta, posterior_variance = _posterior(i)
    frac = (v + 1) / 2
    variance = math.exp(frac * math.log(beta) + (1 - frac) * math.log(posterior_variance))
    index = torch.full((2,), i)
    plain = p_sample_step(SCHED, _output(eps, v), x, index, noise)
    guided = p_sample_step(SCHED, _output(eps, v), x, index, noise, mean_grad=grad)
    torch.testing.assert_close(guided - plain, variance * grad, rtol=0, atol=1e-12)
    mean, log_variance, _ = p_mean_variance(SCHED, _output(eps, v), x, index)
    torch.testing.assert_close(shifted_mean(mean, log_variance, grad), mean + variance * grad, rtol=0, atol=1e-12)


class TrueEpsModel:
    """The exact eps of a fixed x0 at the ORIGINAL timestep t, with variance values v."""

    def __init__(self, x0: torch.Tensor, v: float = 0.0):
        self.x0, self.v = x0, v

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = torch.from_numpy(ALPHA_BAR)[t].reshape(-1, 1, 1, 1)
        return _output((x - ab.sqrt() * self.x0) / (1 - ab).sqrt(), self.v)


def test_ancestral_loop_calls_cond_fn_with_the_current_x_and_original_timesteps():
    x0 = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 1.6 - 0.8
    x_T, grad = _case(seed=5)
    noise = [torch.zeros_like(x0)] * len(TIMESTEPS)
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def cond_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append((x.clone(), t.clone()))
        return grad

    sample = sample_ancestral(TrueEpsModel(x0), x_T, SCHED, noise_from_list(noise), cond_fn=cond_fn)
    assert [t.tolist() for _, t in calls] == [[step, step] for step in reversed(TIMESTEPS)]
    # With the true eps each step is the posterior mean of (x0, x) plus variance * grad (v = 0: frac 1/2).
    x = x_T
    for k, i in enumerate(reversed(range(len(TIMESTEPS)))):
        torch.testing.assert_close(calls[k][0], x, rtol=0, atol=1e-9)
        ab, ab_prev, beta, posterior_variance = _posterior(i)
        mean = math.sqrt(ab_prev) * beta / (1 - ab) * x0 + math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * x
        clipped = posterior_variance if i else _posterior(1)[3]
        x = mean + math.exp(0.5 * math.log(beta) + 0.5 * math.log(clipped)) * grad
    torch.testing.assert_close(sample, x, rtol=0, atol=1e-9)


def test_ddim_step_uses_the_edited_x0_for_both_terms():
    # DDIM eq. 12 (eta 0): x_prev = sqrt(ab_prev) x0' + sqrt(1 - ab_prev) eps', eps' re-derived from x0'.
    x, eps = _case(seed=6)
    source = torch.full_like(x, 0.25)
    mask = torch.zeros_like(x[:, :1])
    mask[..., :2] = 1
    i = 5
    ab, ab_prev, _, _ = _posterior(i)
    predicted = (x / math.sqrt(ab) - math.sqrt(1 / ab - 1) * eps).clamp(-1, 1)
    edited = torch.where(mask.bool(), source, predicted)

    def denoised_fn(x0: torch.Tensor) -> torch.Tensor:
        return x0 * (1 - mask) + source * mask

    eps_edited = (x / math.sqrt(ab) - edited) / math.sqrt(1 / ab - 1)
    expected = math.sqrt(ab_prev) * edited + math.sqrt(1 - ab_prev) * eps_edited
    got = ddim_step(SCHED, _output(eps, 0.0), x, torch.full((2,), i), 0.0, None, denoised_fn=denoised_fn)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_ddim_loop_with_known_pixels_ends_on_the_source_there():
    # The last DDIM step returns x0' itself (ab_prev = 1), so kept pixels end exactly on the source.
    x0 = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 1.6 - 0.8
    x_T, _ = _case(seed=8)
    source = torch.full_like(x0, -0.5)
    mask = torch.zeros_like(x0[:, :1])
    mask[:, :, 1:3, 1:3] = 1

    def denoised_fn(pred: torch.Tensor) -> torch.Tensor:
        return pred * (1 - mask) + source * mask

    sample = sample_ddim(TrueEpsModel(x0), x_T, SCHED, denoised_fn=denoised_fn)
    keep = mask.expand_as(x0).bool()
    torch.testing.assert_close(sample[keep], source[keep], rtol=0, atol=1e-12)
    assert float((sample[~keep] - x0[~keep]).abs().max()) < 1e-9  # the true eps elsewhere
