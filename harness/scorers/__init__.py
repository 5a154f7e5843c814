"""Scorers: turn a run's samples table into per-sample columns, run metrics, tables and notes.

The registry (registry.py) maps each name to its options dataclass and factory; `build_scorers(["clip", "bias"],
options, cache_dir=...)` returns objects with `name` and `score(samples) -> ScoreResult`.

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

from harness.scorers.options import ScorerConfigError
from harness.scorers.registry import (
    SCORERS,
    ScorerContext,
    build_scorers,
    check_scorer_names,
    register_scorer,
    scorer_options_class,
)
from harness.scorers.result import Scorer, ScoreResult

__all__ = [
    "SCORERS",
    "ScoreResult",
    "Scorer",
    "ScorerConfigError",
    "ScorerContext",
    "build_scorers",
    "check_scorer_names",
    "register_scorer",
    "scorer_options_class",
]
