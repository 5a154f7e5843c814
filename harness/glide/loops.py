"""Sampling loops by name: the registry a config's `sampler.base_loop` / `sampler.upsample_loop` chooses from.

A loop is one function (model_fn, x_T, schedule, *, noise_fn, progress, **options) -> x_0; options are the
loop's own settings from config (DDIM's eta), declared here so that a config can be checked before any work.
The built-in loops import their torch code when they first run: checking a config imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .bad_input import GlideInputError
from .respacing import check_solver_respacing

if TYPE_CHECKING:
    import torch

    from .diffusion import Schedule
    from .first_order import ModelFn, NoiseFn, ProgressFn

LoopFn = Callable[..., "torch.Tensor"]


@dataclass(frozen=True)
class Loop:
    """A sampling loop, the option names it takes (each a `sampler.<stage>_<option>` config field) and, for
    loops that cannot run every respacing, a check(respacing) raising a one-line error for those it cannot.
    `hooks` names the callables a stage may pass in: `denoised_fn` (edit each x_0, e.g. inpainting's known
    pixels) and `cond_fn` (shift each mean by a gradient, e.g. CLIP guidance)."""

    fn: LoopFn
    options: tuple[str, ...] = ()
    check_respacing: Callable[[str], None] | None = None
    hooks: tuple[str, ...] = ()


def _ancestral(
    model_fn: ModelFn, x_T: torch.Tensor, sched: Schedule, *, noise_fn: NoiseFn, progress=None, **hooks
) -> torch.Tensor:
    from .first_order import sample_ancestral

    return sample_ancestral(model_fn, x_T, sched, noise_fn, progress=progress, **hooks)


def _ddim(
    model_fn: ModelFn, x_T: torch.Tensor, sched: Schedule, *, noise_fn: NoiseFn, progress=None, eta=0.0, **hooks
) -> torch.Tensor:
    from .first_order import sample_ddim

    # eta = 0 is deterministic and draws nothing, so the generators' streams stay as the official loop's.
    return sample_ddim(model_fn, x_T, sched, eta=eta, noise_fn=noise_fn if eta else None, progress=progress, **hooks)


def _solver(name: str) -> LoopFn:
    # The multistep solvers are deterministic: they draw no noise after x_T.
    def run(model_fn: ModelFn, x_T: torch.Tensor, sched: Schedule, *, noise_fn: NoiseFn, progress=None):
        from .multistep import sample_dpmpp_2m, sample_unipc

        solver = {"dpmpp_2m": sample_dpmpp_2m, "unipc": sample_unipc}[name]
        return solver(model_fn, x_T, sched, progress=progress)

    return run


def _solver_respacing(name: str) -> Callable[[str], None]:
    def check(respacing: str) -> None:
        try:
            check_solver_respacing(name, respacing)
        except ValueError as err:
            raise GlideInputError(str(err)) from None

    return check


LOOPS: dict[str, Loop] = {
    "ancestral": Loop(_ancestral, hooks=("denoised_fn", "cond_fn")),
    "ddim": Loop(_ddim, options=("eta",), hooks=("denoised_fn",)),
    "dpmpp_2m": Loop(_solver("dpmpp_2m"), check_respacing=_solver_respacing("dpmpp_2m")),
    "unipc": Loop(_solver("unipc"), check_respacing=_solver_respacing("unipc")),
}


def register_loop(
    name: str,
    fn: LoopFn,
    options: tuple[str, ...] = (),
    check_respacing: Callable[[str], None] | None = None,
    hooks: tuple[str, ...] = (),
) -> None:
    """Make `fn` available as a loop named `name` (plugins call this at import)."""
    LOOPS[name] = Loop(fn, tuple(options), check_respacing, tuple(hooks))


def get_loop(name: str) -> Loop:
    """The loop named `name`, or a one-line error listing the known ones."""
    if name not in LOOPS:
        raise GlideInputError(f"unknown sampling loop {name!r}; allowed: {', '.join(LOOPS)}")
    return LOOPS[name]


def run_loop(
    name: str,
    model_fn: ModelFn,
    x_T: torch.Tensor,
    sched: Schedule,
    *,
    noise_fn: NoiseFn,
    progress: ProgressFn | None = None,
    options: dict[str, Any] | None = None,
    hooks: dict[str, Callable] | None = None,
) -> torch.Tensor:
    """Run the loop `name` from x_T; `options` and `hooks` must be among the loop's declared ones."""
    chosen = get_loop(name)
    options = dict(options or {})
    unknown = sorted(set(options) - set(chosen.options))
    if unknown:
        raise GlideInputError(f"loop {name!r} takes no option {unknown[0]!r}; its options: {chosen.options or 'none'}")
    hooks = dict(hooks or {})
    if missing := sorted(set(hooks) - set(chosen.hooks)):
        raise GlideInputError(f"loop {name!r} takes no {missing[0]}; its hooks: {', '.join(chosen.hooks) or 'none'}")
    return chosen.fn(model_fn, x_T, sched, noise_fn=noise_fn, progress=progress, **options, **hooks)
