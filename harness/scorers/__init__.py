"""Scorers: turn a run's samples table into per-sample columns, run metrics, tables and notes.

`build_scorers(["clip", "fid", "bias"], cfg, cache_dir=...)` validates every option of conf/scorer/<name>.yaml
and returns objects with `name` and `score(samples) -> ScoreResult`.

Naming scheme (the runner and trackers store these unchanged):
- columns: `<scorer>.<column>`, e.g. `clip.score`, `bias.pred`, `bias.p.church`.
- metrics: `<scorer>/<metric>` for the whole run (`clip/score_mean`, `fid/fid`, `bias/majority_share`);
  a metric of a subset appends `[<key>=<value>]`: `fid/fid[tag.style=oil painting]` for the samples whose
  `tag.style` column is "oil painting", `bias/share[class=church]` for one class. Confidence bounds are
  sibling metrics `<metric>_ci_low` / `<metric>_ci_high`; glossary.py names each one's method.
  A metric that cannot be computed is None, and `notes` says why.
- tables: `<scorer>/<table>`, e.g. `clip/per_prompt`, `fid/groups`, `bias/distribution`, `bias/confusion`.

The clip and bias scorers share one open_clip model (options in `scorer.clip`), which the fid scorer's
CMMD reuses when `scorer.fid.cmmd` names the same; one feature cache under
`<cache_dir>/features/<model>/<image key>.npy` embeds each image once per model.

Smoke runs and tests need no download: `scorer.clip.model=harness-tiny-clip scorer.clip.pretrained=null`
(a registered 16-d CLIP, seeded random weights) and
`scorer.fid.feature_extractor=harness.scorers.tiny_features:TinyFeatures` (4-d features) with
`scorer.fid.cmmd.model=harness-tiny-clip scorer.fid.cmmd.pretrained=null`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from harness.scorers.bias import BiasConfig, BiasScorer
from harness.scorers.clip import ClipScorer
from harness.scorers.clip_encoder import ClipConfig, ClipEncoder
from harness.scorers.fid import FidConfig, FidScorer
from harness.scorers.options import ScorerConfigError
from harness.scorers.result import Scorer, ScoreResult

AVAILABLE = ("bias", "clip", "fid")

__all__ = ["AVAILABLE", "ScoreResult", "Scorer", "ScorerConfigError", "build_scorers"]


def _check_device(device: str) -> None:
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ScorerConfigError(f"device: {device!r} is not a torch device (cpu, cuda, cuda:1, ...)") from err


def build_scorers(
    names: Sequence[str], cfg: Mapping[str, Mapping[str, Any]], *, cache_dir: Path, device: str = "cpu"
) -> list[Scorer]:
    """The scorers `names`, in that order, configured from cfg[name] (conf/scorer/<name>.yaml as a dict).

    Raises ValueError (ScorerConfigError) naming the first bad scorer name or option. The CLIP options in
    cfg["clip"] are validated whenever any scorer is built, since all of them use that model.
    """
    unknown = [name for name in names if name not in AVAILABLE]
    if unknown:
        raise ScorerConfigError(f"scorers: unknown scorer {unknown[0]!r}; available: {', '.join(AVAILABLE)}")
    if len(set(names)) != len(names):
        raise ScorerConfigError(f"scorers: {list(names)} names a scorer twice")
    if not names:
        return []
    for name in {"clip", *names}:
        if name not in cfg:
            raise ScorerConfigError(f"scorer.{name}: no options given (conf/scorer/{name}.yaml)")
    _check_device(device)
    clip_config = ClipConfig.from_mapping(cfg["clip"])
    configs: dict[str, Any] = {"clip": clip_config}
    if "fid" in names:
        configs["fid"] = FidConfig.from_mapping(cfg["fid"])
    if "bias" in names:
        configs["bias"] = BiasConfig.from_mapping(cfg["bias"])
    encoder = ClipEncoder(clip_config, cache_dir=cache_dir, device=device)
    factories = {
        "clip": lambda: ClipScorer(clip_config, encoder),
        "fid": lambda: FidScorer(configs["fid"], encoder, cache_dir=cache_dir, device=device),
        "bias": lambda: BiasScorer(configs["bias"], encoder),
    }
    return [factories[name]() for name in names]
