"""The scorer registry: a name maps to the dataclass of its options and the factory that builds it.

The run config's `scorer` node is typed from this registry (one field per scorer), so a scorer's options
are checked at composition; `build_scorers` builds the scorers a run names, sharing one CLIP encoder.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from harness.glide.spec import ModelSpec
from harness.scorers.bias import BiasConfig, BiasScorer
from harness.scorers.clip import ClipScorer
from harness.scorers.clip_encoder import ClipConfig, ClipEncoder
from harness.scorers.detect import DetectConfig, DetectScorer
from harness.scorers.fid import FidConfig, FidScorer
from harness.scorers.guide_clip import GuideClipConfig, GuideClipScorer
from harness.scorers.inpaint import InpaintConfig, InpaintScorer
from harness.scorers.options import ScorerConfigError, build_config
from harness.scorers.preference import PreferenceConfig, PreferenceScorer
from harness.scorers.quality import QualityConfig, QualityScorer
from harness.scorers.result import Scorer
from harness.scorers.style import StyleConfig, StyleScorer

# The scorer whose CLIP model every scorer that needs one shares (its options configure the encoder).
SHARED_CLIP = "clip"


@dataclass
class ScorerContext:
    """What a factory may use besides its own options: every scorer's options, the cache, the device and the
    run's model spec (None outside a run; a scorer that reads the run's own models needs it)."""

    options: Mapping[str, Any]
    cache_dir: Path | None
    device: str
    model: ModelSpec | None = None

    @cached_property
    def clip_encoder(self) -> ClipEncoder:
        """The shared CLIP encoder (scorer.clip's model), built on first use; it loads weights lazily."""
        return ClipEncoder(self.options[SHARED_CLIP], cache_dir=self.cache_dir, device=self.device)


@dataclass(frozen=True)
class ScorerEntry:
    options: type  # a dataclass: the options under scorer.<name>
    build: Callable[[Any, ScorerContext], Scorer]
    # fnmatch patterns of the per-sample columns (`name.*`) and run metrics (`name/*`) it writes, so that a
    # finding naming a metric no scorer of the run writes is refused before sampling. Empty: `name.*`, `name/*`.
    outputs: tuple[str, ...] = ()

    def writes(self, name: str, metric: str) -> bool:
        return any(fnmatch.fnmatchcase(metric, p) for p in self.outputs or (f"{name}.*", f"{name}/*"))


SCORERS: dict[str, ScorerEntry] = {
    "clip": ScorerEntry(
        ClipConfig, lambda cfg, ctx: ClipScorer(cfg, ctx.clip_encoder), ("clip.score", "clip.cos", "clip/*")
    ),
    "fid": ScorerEntry(
        FidConfig,
        lambda cfg, ctx: FidScorer(cfg, ctx.clip_encoder, cache_dir=ctx.cache_dir, device=ctx.device),
        ("fid/*",),
    ),
    "bias": ScorerEntry(
        BiasConfig,
        lambda cfg, ctx: BiasScorer(cfg, ctx.clip_encoder),
        ("bias.correct", "bias.expected", "bias.pred", "bias.p.*", "bias/*"),
    ),
    "style": ScorerEntry(
        StyleConfig,
        lambda cfg, ctx: StyleScorer(cfg, ctx.clip_encoder),
        ("style.intended", "style.p_intended", "style.pred", "style.p.*", "style/*"),
    ),
    "quality": ScorerEntry(
        QualityConfig, lambda cfg, ctx: QualityScorer(cfg), ("quality.*_64", "quality.*_256", "quality/*")
    ),
    "detect": ScorerEntry(
        DetectConfig,
        lambda cfg, ctx: DetectScorer(cfg, device=ctx.device),
        (
            "detect.all_present",
            "detect.n_objects",
            "detect.n_present",
            "detect.coverage.*",
            "detect.present.*",
            "detect.score.*",
            "detect/*",
        ),  # fmt: skip
    ),
    "preference": ScorerEntry(PreferenceConfig, lambda cfg, ctx: PreferenceScorer(cfg, device=ctx.device)),
    "guide_clip": ScorerEntry(
        GuideClipConfig,
        lambda cfg, ctx: GuideClipScorer(cfg, _run_model(ctx), ctx.device),
        ("guide_clip.score", "guide_clip.cos", "guide_clip/*"),
    ),
    "inpaint": ScorerEntry(InpaintConfig, lambda cfg, ctx: InpaintScorer(cfg, ctx.clip_encoder)),
}


def _run_model(context: ScorerContext) -> ModelSpec:
    if context.model is None:
        raise ScorerConfigError("scorer guide_clip scores with the run's own noised CLIP: build it with the model spec")
    return context.model


def register_scorer(name: str, options: type, build: Callable[[Any, ScorerContext], Scorer]) -> None:
    """Make a scorer available as `scorers=[..., name]` with options `scorer.<name>.*` (plugins call this at
    import, before the config is typed)."""
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"scorer {name!r}: its options must be a dataclass, got {options!r}")
    SCORERS[name] = ScorerEntry(options, build)


def scorer_options_class() -> type:
    """A dataclass with one field per registered scorer, each defaulting to that scorer's option defaults."""
    fields = [(name, entry.options, field(default_factory=entry.options)) for name, entry in SCORERS.items()]
    return dataclasses.make_dataclass("ScorerOptions", fields)


def check_scorer_names(names: Sequence[str]) -> None:
    """One line for an unknown or repeated name in `scorers`."""
    unknown = [name for name in names if name not in SCORERS]
    if unknown:
        raise ScorerConfigError(f"scorers: unknown scorer {unknown[0]!r}; available: {', '.join(sorted(SCORERS))}")
    if len(set(names)) != len(names):
        raise ScorerConfigError(f"scorers: {list(names)} names a scorer twice")


def build_scorers(
    names: Sequence[str], options: Any, *, cache_dir: Path | None, device: str = "cpu", model: ModelSpec | None = None
) -> list[Scorer]:
    """The scorers `names`, in order. `options` is the typed `scorer` node, or a mapping of name -> options
    (a dataclass instance or a plain mapping, which is typed here); missing ones take their defaults.
    `model` is the run's model spec, for scorers that load the run's own models (guide_clip)."""
    check_scorer_names(names)
    if not names:
        return []
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ScorerConfigError(f"device: {device!r} is not a torch device (cpu, cuda, cuda:1, ...)") from err
    typed = {name: _typed_options(name, options) for name in {SHARED_CLIP, *names}}
    context = ScorerContext(typed, cache_dir, device, model)
    return [SCORERS[name].build(typed[name], context) for name in names]


def _typed_options(name: str, options: Any) -> Any:
    cls = SCORERS[name].options
    given = options.get(name) if isinstance(options, Mapping) else getattr(options, name, None)
    if isinstance(given, cls):
        return given
    return build_config(cls, given, f"scorer.{name}")
