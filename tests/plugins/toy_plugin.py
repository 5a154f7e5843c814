"""A plugin as a user would write one: sampling loops and a scorer registered from outside the harness.

The grey loop calls the model once and returns the mid-grey image, so its outputs are known without the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image

from harness.glide.loops import register_loop
from harness.scorers import ScoreResult, register_scorer


def toy_grey(model_fn, x_T, sched, *, noise_fn, progress=None):
    t = torch.full((x_T.shape[0],), sched.timestep_map[-1], dtype=torch.long, device=x_T.device)
    model_fn(x_T, t)  # one forward per sample, counted by the runner like any loop's
    return torch.zeros_like(x_T)  # x0 = 0 is grey 127.5, stored as 128


register_loop("toy_grey", toy_grey)


def toy_broken(model_fn, x_T, sched, *, noise_fn, progress=None):
    raise ValueError("an internal error of this loop, not a bad config value")


register_loop("toy_broken", toy_broken)


@dataclass
class ToyBrightnessOptions:
    """Options of the toy scorer: typed at composition under scorer.toy_brightness like any scorer's."""

    scale: float = 1.0


class ToyBrightness:
    """Mean pixel value of each 256px image times `scale`: a score the test recomputes from the PNG."""

    name = "toy_brightness"

    def __init__(self, options: ToyBrightnessOptions) -> None:
        self.options = options

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        values = [self.options.scale * float(np.asarray(Image.open(p)).mean()) for p in samples["path_256"]]
        columns = pd.DataFrame({"toy_brightness.value": values}, index=samples.index)
        return ScoreResult(columns, {"toy_brightness/mean": float(np.mean(values))})


register_scorer("toy_brightness", ToyBrightnessOptions, lambda options, context: ToyBrightness(options))
