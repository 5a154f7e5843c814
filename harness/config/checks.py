"""Checks of a typed job config that need more than one node: the scorers a suite can run, and a finding that
names what the run writes and varies. The command runs them on every sweep point before Hydra starts a job."""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.config.schema import sample_column, sampler_columns
from harness.errors import ConfigError
from harness.scorers import SCORERS, check_scorer_names
from harness.scorers.configs import slug


def probe_scorers(rc: Any) -> tuple[list[str], list[str]]:
    """The scorers to build, and notes. The bias probe runs only on a suite that names its probe (a taxonomy
    whose classes its control prompts name), whose taxonomy and class of interest it then takes; the guide's
    own CLIP score only where there is a guide (not in the toy world)."""
    names = list(rc.scorers)
    check_scorer_names(names)
    if "inpaint" in names and not any(p.image is not None or p.mask is not None for p in rc.suite.prompts):
        raise ConfigError(
            f"scorers: inpaint scores inpainting runs; suite {rc.suite.name!r} has no prompt with an image and mask"
        )
    notes = []
    if "guide_clip" in names and rc.model.toy:
        names.remove("guide_clip")
        notes.append("guide_clip: not run: the toy world renders its images without a guide CLIP (model=toy)")
    if "bias" not in names:
        return names, notes
    probe = rc.suite.probe
    if probe is None:
        names.remove("bias")
        return names, [*notes, f"bias: not run: suite {rc.suite.name!r} names no probe (suite.probe.taxonomy)"]
    rc.scorer.bias = dataclasses.replace(
        rc.scorer.bias, taxonomy=probe.taxonomy, class_of_interest=probe.class_of_interest
    )
    return names, notes


def finding_error(rc: Any, cfg: DictConfig) -> str | None:
    """A finding whose metric no scorer of the run writes, or whose `compare` names nothing the run varies or
    records, would run the whole study for "no verdict"; say so before any sampling."""
    finding = rc.finding
    if finding is None:
        return None
    for i, metric in enumerate(finding.metrics):
        key = "finding.metric" if i == 0 else "finding.also"
        if not any(SCORERS[name].writes(name, metric) for name in rc.scorers):
            return (
                f"{key}: {metric!r} is written by none of this run's scorers ({', '.join(rc.scorers) or 'none'}); "
                "a metric is a scorer's column (clip.score) or run metric (bias/interest_share)"
            )
        if error := _detect_name_error(key, metric, rc.suite):
            return error
    compare = finding.compare
    tags = {tag for prompt in rc.suite.prompts for tag in prompt.tags}
    pair_by = finding.pair_by
    if pair_by is not None and rc.suite.path is None and (not pair_by.startswith("tag.") or pair_by[4:] not in tags):
        return (
            f"finding.pair_by: {pair_by!r} is not a tag of suite {rc.suite.name!r} (tags: {_listed(tags)}); the "
            "paired units are a tag's values, e.g. tag.subject"
        )
    if compare.startswith("tag."):
        if rc.suite.path is None and compare[4:] not in tags:
            return f"finding.compare: {compare!r} is not a tag of suite {rc.suite.name!r} (tags: {_listed(tags)})"
        return None
    recorded = {*sampler_columns(), "prompt_id", "model_id", "expected_class"}
    if sample_column(compare) in recorded or OmegaConf.select(cfg, compare, default=_ABSENT) is not _ABSENT:
        return None
    return f"finding.compare: {compare!r} is neither a samples column (tag.NAME, {_listed(recorded)}) nor a config key"


_ABSENT = object()


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _detect_name_error(key: str, metric: str, suite: Any) -> str | None:
    """detect.coverage.X / detect.score.X / detect.present.X name a phrase or object of the suite's prompts."""
    kind, _, name = metric.removeprefix("detect.").partition(".")
    if not metric.startswith("detect.") or kind not in ("coverage", "score", "present") or suite.path is not None:
        return None
    lists = [p.phrases if kind == "coverage" else p.objects for p in suite.prompts]
    names = {slug(item) for items in lists for item in items or ()}
    if name in names:
        return None
    what = "phrases" if kind == "coverage" else "objects"
    return f"{key}: {metric!r} names no {what[:-1]} of suite {suite.name!r} (its {what}: {_listed(names)})"
