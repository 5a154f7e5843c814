"""A sweep's end (the `SweepSummary` callback of conf/config.yaml): each sharded plan's union scored once, then the
sweep's analysis, its HTML report and its tables in the tracker.

The shards of a `runner.stage=all` sweep only sample and write their own manifests; the lowest shard's run dir
then gets the scores of every shard's samples.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from harness.analysis.sweep import analyse_sweep, log_sweep_summary
from harness.errors import USAGE_ERRORS, error_line
from harness.run.rundir import RunDir, shard_groups

log = logging.getLogger(__name__)


def finish_sweep(sweep_dir: Path, logger_cfg: Any | None, group: str) -> None:
    """Score the shards' unions, analyse the sweep, build its report and log its summary (each step failing
    softly: the job dirs on disk are the results)."""
    from harness.analysis.study import load_study
    from harness.report import ReportOptions, render_plots, write_report
    from harness.report.build import default_out

    score_shard_unions(sweep_dir)
    analysis = analyse_sweep(sweep_dir)
    if analysis.summary.empty:
        return
    images: dict[str, Path] = {}
    try:
        # the study, comparisons and findings the analysis computed, not computed again
        study = analysis.study if analysis.study is not None else load_study([sweep_dir])
        report = write_report(study, default_out([sweep_dir]), ReportOptions(), sources=[sweep_dir],
                              comparisons=analysis.comparisons, finding_rows=analysis.finding_rows)  # fmt: skip
        images = render_plots([sweep_dir], study=study)
        log.info("sweep report: %s", report)
    except Exception as err:  # the summary on disk stands; a report problem must not hide it
        log.warning("building the sweep report failed (%s: %s); python -m harness.report %s retries it",
                    type(err).__name__, err, sweep_dir)  # fmt: skip
    if logger_cfg is None:
        return
    try:
        log_sweep_summary(
            logger_cfg,
            sweep_dir=sweep_dir,
            summary=analysis.summary,
            group=group,
            images=images,
            comparisons=analysis.comparisons,
            findings=analysis.findings,
            extra_tables=analysis.extra_tables,
        )
    except Exception as err:  # the tracker mirrors what is on disk; its failure costs nothing
        log.warning("logging the sweep summary failed (%s: %s)", type(err).__name__, err)


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
