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
from typing import TYPE_CHECKING, Any

from harness.glide.spec import ModelSpec
from harness.scorers.configs import (
    BiasConfig,
    ClipConfig,
    DetectConfig,
    FidConfig,
    GuideClipConfig,
    InpaintConfig,
    PreferenceConfig,
    QualityConfig,
    StyleConfig,
)
from harness.scorers.options import ScorerConfigError, build_config
from harness.scorers.result import Scorer

if TYPE_CHECKING:
    from harness.scorers.clip_encoder import ClipEncoder

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
        from harness.scorers.clip_encoder import ClipEncoder

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


# The factories import their scorer's module when a run builds it: typing a config imports none of them.


def _clip(cfg: ClipConfig, ctx: ScorerContext) -> Scorer:
    from harness.scorers.clip import ClipScorer

    return ClipScorer(cfg, ctx.clip_encoder)


def _fid(cfg: FidConfig, ctx: ScorerContext) -> Scorer:
    from harness.scorers.fid import FidScorer

    return FidScorer(cfg, ctx.clip_encoder, cache_dir=ctx.cache_dir, device=ctx.device)


def _bias(cfg: BiasConfig, ctx: ScorerContext) -> Scorer:
    from harness.scorers.bias import BiasScorer

    return BiasScorer(cfg, ctx.clip_encoder)


def _style(cfg: StyleConfig, ctx: ScorerContext) -> Scorer:
    from harness.scorers.style import StyleScorer

    return StyleScorer(cfg, ctx.clip_encoder)


def _quality(cfg: QualityConfig, ctx: ScorerContext) -> Scorer:
    from harness.scorers.quality import QualityScorer

    return QualityScorer(cfg)


def _detect(cfg: DetectConfig, ctx: ScorerContext) -> Scorer:
    from harness.scorers.detect import DetectScorer

    return DetectScorer(cfg, device=ctx.device)


def _preference(cfg: PreferenceConfig, ctx: ScorerContext) -> Scorer:
    from harness.scorers.preference import PreferenceScorer

    return PreferenceScorer(cfg, device=ctx.device)


def _guide_clip(cfg: GuideClipConfig, ctx: ScorerContext) -> Scorer:
    from harness.scorers.guide_clip import GuideClipScorer

    return GuideClipScorer(cfg, _run_model(ctx), ctx.device)


def _inpaint(cfg: InpaintConfig, ctx: ScorerContext) -> Scorer:
    from harness.scorers.inpaint import InpaintScorer

    return InpaintScorer(cfg, ctx.clip_encoder)


SCORERS: dict[str, ScorerEntry] = {
    "clip": ScorerEntry(ClipConfig, _clip, ("clip.score", "clip.cos", "clip/*")),
    "fid": ScorerEntry(FidConfig, _fid, ("fid/*",)),
    "bias": ScorerEntry(BiasConfig, _bias, ("bias.correct", "bias.expected", "bias.pred", "bias.p.*", "bias/*")),
    "style": ScorerEntry(
        StyleConfig, _style, ("style.intended", "style.p_intended", "style.pred", "style.p.*", "style/*")
    ),
    "quality": ScorerEntry(QualityConfig, _quality, ("quality.*_64", "quality.*_256", "quality/*")),
    "detect": ScorerEntry(
        DetectConfig,
        _detect,
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
    "preference": ScorerEntry(PreferenceConfig, _preference),
    "guide_clip": ScorerEntry(GuideClipConfig, _guide_clip, ("guide_clip.score", "guide_clip.cos", "guide_clip/*")),
    "inpaint": ScorerEntry(InpaintConfig, _inpaint),
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
    import torch

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
