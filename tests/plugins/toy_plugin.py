"""A plugin as a user would write one: a sampling loop registered from outside the harness.

The loop calls the model once and returns the mid-grey image, so its outputs are known without the model.
"""

from __future__ import annotations

import torch

from harness.glide.samplers import register_loop


def toy_grey(model_fn, x_T, sched, *, noise_fn, progress=None):
    t = torch.full((x_T.shape[0],), sched.timestep_map[-1], dtype=torch.long, device=x_T.device)
    model_fn(x_T, t)  # one forward per sample, counted by the runner like any loop's
    return torch.zeros_like(x_T)  # x0 = 0 is grey 127.5, stored as 128


register_loop("toy_grey", toy_grey)


def toy_broken(model_fn, x_T, sched, *, noise_fn, progress=None):
    raise ValueError("an internal error of this loop, not a bad config value")


register_loop("toy_broken", toy_broken)
