"""The score step of a job: every scorer's columns, metrics, tables and notes for the run's samples, then W&B.

The files the step produces are written through harness.run.rundir; the command `python -m harness.cli.score`
(scoring a sharded run later) is harness.cli.score.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from harness.io import finite_or_none
from harness.tracking import TRACKED_FILE, content_digest, logged_before, open_tracker, record_logged

log = logging.getLogger(__name__)


def score_samples(
    samples: pd.DataFrame, scorers: list
) -> tuple[pd.DataFrame, dict[str, float | None], dict[str, pd.DataFrame], list[str]]:
    """Every scorer's columns joined to the samples, and the run's metrics, tables and notes."""
    results = samples.copy()
    metrics: dict[str, float | None] = {}
    tables: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for scorer in scorers:
        log.info("scoring %d samples with %s", len(samples), scorer.name)
        result = scorer.score(samples)
        results = results.join(result.columns)
        metrics.update({name: finite_or_none(value) for name, value in result.metrics.items()})
        tables.update(result.tables)
        notes.extend(result.notes)
    for note in notes:  # the one place a note is logged; scorers only return theirs
        (log.warning if note.startswith("UNVALIDATED") else log.info)("note: %s", note)
    return results, metrics, tables, notes


def log_to_tracker(
    logger: Any,
    run_dir: Path,
    results: pd.DataFrame,
    summary: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    *,
    group: str | None,
    tags: list[str],
) -> None:
    info = summary["run"]
    digest = content_digest(summary["metrics"], results, *tables.values())
    if logged_before(run_dir, digest):
        log.info("these results were logged to the tracker before (%s); not logged again", TRACKED_FILE)
        return
    with open_tracker(
        logger,
        run_dir=run_dir,
        name=run_dir.name if not run_dir.name.isdigit() else f"{run_dir.parent.name}/{run_dir.name}",
        group=group,
        job_type="sample-and-score",
        config=info["config"],
        tags=tags,
    ) as tracker:
        log.info("%s", tracker.where)
        tracker.log_results(results, summary["metrics"], tables)
        if tracker.active:
            record_logged(run_dir, digest)
