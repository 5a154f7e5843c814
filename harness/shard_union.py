"""At a sweep's end, score each sharded plan's union once: the shards of a `runner.stage=all` sweep only sample
and write their own manifests; the lowest shard's run dir then gets the scores of every shard's samples.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import OmegaConf

from harness.errors import USAGE_ERRORS, error_line
from harness.plan import parse_shard
from harness.rundir import RunDir

log = logging.getLogger(__name__)


def waiting_shards(sweep_dir: Path) -> dict[str, list[tuple[int, Path]]]:
    """The sweep's unscored shard jobs of `runner.stage=all`, grouped by their config without `runner.shard`."""
    groups: dict[str, list[tuple[int, Path]]] = {}
    for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()):
        run = RunDir(job_dir)
        if run.is_finished or not run.manifest_file.is_file() or not run.hydra_config_file.is_file():
            continue
        saved = OmegaConf.to_container(OmegaConf.load(run.hydra_config_file), resolve=False)
        runner = saved.get("runner") or {}
        index, count = parse_shard(runner.pop("shard", "0/1"))
        if runner.get("stage", "all") != "all" or count < 2:
            continue
        groups.setdefault(json.dumps(saved, sort_keys=True, default=str), []).append((index, job_dir))
    return groups


def score_shard_unions(sweep_dir: Path) -> list[Path]:
    """Score every waiting union into its lowest shard's run dir; returns the dirs scored. A union some shard
    failed to finish is left with one warning naming what is missing (python -m harness.score retries it)."""
    from harness.score import score_run_dir  # the command's own path: the job's saved config, score stage only

    scored = []
    for shards in waiting_shards(sweep_dir).values():
        _, run_dir = min(shards)
        try:
            score_run_dir(run_dir, group=sweep_dir.name)
        except USAGE_ERRORS as err:
            dirs = ", ".join(str(d) for _, d in sorted(shards))
            log.warning("the union of shards %s is not scored: %s", dirs, error_line(err))
            continue
        log.info("scored the union of %d shards into %s", len(shards), run_dir)
        scored.append(run_dir)
    return scored
