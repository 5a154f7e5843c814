"""Timestep respacing: which of a schedule's diffusion steps a sampling run keeps, and which respacings the
multistep solvers can use. Pure Python and NumPy, so that a config's sampler settings are checked without torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bad_input import GlideInputError

_RESPACING_FORMS = (
    "at least 2 steps in all: '' or 'full' (every step), comma-separated step counts over equal sections such "
    "as '100' or '10,10,3,2,2', 'ddimN' (N steps at an integer stride), or 'fast27'"
)


def space_timesteps(num_steps: int, respacing: str) -> list[int]:
    """The original timesteps kept by `respacing`, ascending; `_RESPACING_FORMS` lists the accepted forms.

    Refuses a respacing that keeps a single step: the schedule clips the posterior variance of its last step to
    that of the step before, so the loops need two (building a Schedule for every accepted form finds no other).
    """
    steps = _kept_steps(num_steps, respacing)
    if len(steps) < 2:
        raise _respacing_error(respacing, f"it keeps {len(steps)} step; the sampling loops need at least 2")
    return steps


def _kept_steps(num_steps: int, respacing: str) -> list[int]:
    if respacing in ("", "full"):
        return list(range(num_steps))
    if respacing == "fast27":
        # GLIDE's upsampler preset: the noisiest step is replaced to reduce DDIM artifacts.
        steps = set(_evenly_spaced_sections(num_steps, [10, 10, 3, 2, 2], respacing))
        steps.discard(num_steps - 1)
        steps.add(num_steps - 3)
        return sorted(steps)
    if respacing.startswith("ddim"):
        count = _parse_count(respacing, respacing[len("ddim") :])
        # The smallest integer stride whose range over the steps holds exactly `count` steps.
        for stride in range(1, num_steps):
            if len(range(0, num_steps, stride)) == count:
                return list(range(0, num_steps, stride))
        raise _respacing_error(respacing, f"no integer stride gives exactly {count} of {num_steps} steps")
    counts = [_parse_count(respacing, part) for part in respacing.split(",")]
    return _evenly_spaced_sections(num_steps, counts, respacing)


def _evenly_spaced_sections(num_steps: int, counts: list[int], respacing: str) -> list[int]:
    # Split the steps into len(counts) near-equal sections (earlier sections take the remainder)
    # and keep `count` evenly strided steps of each, first and last step of the section included.
    size_per, extra = divmod(num_steps, len(counts))
    kept: list[int] = []
    start = 0
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if count > size:
            raise _respacing_error(respacing, f"section {i} has {size} steps, fewer than the {count} asked")
        stride = 1.0 if count == 1 else (size - 1) / (count - 1)
        # Accumulated (not multiplied) stride and Python's round() reproduce the official step choice.
        position = 0.0
        for _ in range(count):
            kept.append(start + round(position))
            position += stride
        start += size
    return sorted(set(kept))


def _parse_count(respacing: str, text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise _respacing_error(respacing, f"{text!r} is not a positive step count")
    return int(text)


def _respacing_error(respacing: str, reason: str) -> GlideInputError:
    return GlideInputError(f"timestep respacing {respacing!r} invalid ({reason}); allowed: {_RESPACING_FORMS}")


# The second solver is UniPC rather than DPM-Solver++(3M): its corrector reaches third order with no extra model
# evaluation, and its bh2 variant is the one its authors give for guided sampling, which GLIDE always uses.
SOLVERS = ("dpmpp_2m", "unipc")

# Neighbouring kept-timestep gaps may differ by at most this factor. fast27 keeps 199/200, 399/400, 599/600 and
# 799/800 beside gaps of 22-199 steps; extrapolating x0 across a long step from the difference over a 1-step one
# multiplies that difference, and the model's error in it, by up to 88 (2M's 1 / 2r, r the log-SNR step ratio):
# on a Gaussian toy (linear schedule, 3e-3 noise on eps) 2M's error on fast27 was 19x DDIM's, on '27' 7-11x smaller.
_MAX_GAP_RATIO = 4.0


def check_solver_respacing(solver: str, respacing: str, diffusion_steps: int = 1000) -> None:
    """Raise one-line ValueError if `solver` cannot run on `respacing` over `diffusion_steps` steps; else return.

    Pure: call it at config validation, before a model loads. Both solvers accept '' / 'full', evenly spaced
    step counts ('50') and 'ddimN' with at least 2 kept timesteps; they refuse fast27 and section lists whose
    sections meet at adjacent timesteps (such as '10,10,3,2,2').
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver {solver!r} unknown: allowed are {', '.join(SOLVERS)}")
    check_timesteps(solver, space_timesteps(diffusion_steps, respacing), f"timestep respacing {respacing!r}")


def check_timesteps(solver: str, timesteps: Sequence[int], what: str) -> None:
    if len(timesteps) < 2:
        raise ValueError(
            f"{what} keeps {len(timesteps)} timestep(s); {solver} needs at least 2 (it steps between kept timesteps)"
        )
    gaps = np.diff(np.asarray(timesteps, dtype=np.float64))
    if len(gaps) < 2:
        return
    ratios = np.maximum(gaps[1:] / gaps[:-1], gaps[:-1] / gaps[1:])
    k = int(np.argmax(ratios))
    if ratios[k] > _MAX_GAP_RATIO:
        a, b, c = (int(timesteps[k + j]) for j in range(3))
        raise ValueError(
            f"{what} unusable for {solver}: kept timesteps {a}, {b}, {c} have gaps {b - a} and {c - b}, more than "
            f"{_MAX_GAP_RATIO:g}x apart, which makes multistep extrapolation amplify model error; allowed: evenly "
            "spaced steps such as '50', 'ddim50' or 'full'"
        )
