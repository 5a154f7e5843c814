"""At a sweep's end, score each sharded plan's union once: the shards of a `runner.stage=all` sweep only sample
and write their own manifests; the lowest shard's run dir then gets the scores of every shard's samples.
"""

from __future__ import annotations

import logging
from pathlib import Path

from harness.errors import USAGE_ERRORS, error_line
from harness.run.rundir import RunDir, shard_groups

log = logging.getLogger(__name__)


def waiting_shards(sweep_dir: Path) -> list[list[tuple[int, Path]]]:
    """The sweep's unscored shard jobs of `runner.stage=all`, one list per sharded plan (rundir.shard_groups)."""
    waiting = []
    for group in shard_groups(sweep_dir):
        shards = [(index, job_dir) for index, job_dir in group if _waits(RunDir(job_dir))]
        if shards:
            waiting.append(shards)
    return waiting


def _waits(run: RunDir) -> bool:
    """A shard that sampled its part under runner.stage=all and leaves scoring to the union."""
    runner = (run.hydra_config() or {}).get("runner") or {}
    return not run.is_finished and run.manifest_file.is_file() and runner.get("stage", "all") == "all"


def score_shard_unions(sweep_dir: Path) -> list[Path]:
    """Score every waiting union into its lowest shard's run dir; returns the dirs scored. A union some shard
    failed to finish is left with one warning naming what is missing (python -m harness.cli.score retries it)."""
    from harness.cli.score import score_run_dir  # the command's own path: the job's saved config, score stage only

    scored = []
    for shards in waiting_shards(sweep_dir):
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
