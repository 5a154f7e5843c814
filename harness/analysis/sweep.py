"""The analysis at a multirun's end: one sweep summary (a row per job: its overrides and summary metrics), the
paired comparisons, findings and sampler fidelity on disk, and the summary's tables and charts for the tracker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.analysis.fidelity import FIDELITY_TABLE, summarise_fidelity
from harness.io import write_parquet
from harness.run.rundir import RunDir, finished_job_dirs, parse_overrides
from harness.tracking import TRACKED_FILE, LineChart, content_digest, logged_before, open_tracker, record_logged

if TYPE_CHECKING:
    from harness.analysis.findings import Finding
    from harness.analysis.study import Study

log = logging.getLogger(__name__)

SWEEP_SUMMARY = "sweep_summary.parquet"
SWEEP_TABLE = "sweep_summary"
PAIRED_COMPARISONS = "paired_comparisons.parquet"
COMPARISONS_TABLE = "paired_comparisons"
FINDINGS = "findings.parquet"
FINDINGS_TABLE = "findings"
SWEEP_JOB_TYPE = "sweep-summary"
# Columns of sweep_summary.parquet that describe a job rather than a swept override or a metric.
SWEEP_JOB_COLUMNS = ("job", "run_dir")
# In a sweep chart, the column naming the line a point belongs to (the other swept values).
SERIES_COLUMN = "series"


def sweep_summary(sweep_dir: Path) -> pd.DataFrame:
    """One row per finished job (a job dir with a summary): job, run_dir, overrides, metrics."""
    rows = []
    for job_dir in finished_job_dirs(sweep_dir):
        summary = RunDir(job_dir).summary
        row: dict[str, Any] = {"job": int(job_dir.name), "run_dir": str(job_dir.resolve())}
        row.update(parse_overrides(summary.run.get("overrides", [])))
        row.update(summary.metrics)
        rows.append(row)
    return pd.DataFrame(rows)


def swept_parameters(summary: pd.DataFrame) -> dict[str, pd.Series]:
    """The override columns of a sweep summary that vary across jobs and hold numbers (or numeric strings).

    By the run-dir contract metrics are named `<scorer>/<name>` and override keys are dotted config
    paths, so a column with a "/" is a metric. Text overrides (a suite name) have no axis to plot on.
    """
    swept: dict[str, pd.Series] = {}
    for column in summary.columns:
        if column in SWEEP_JOB_COLUMNS or "/" in str(column) or pd.api.types.is_bool_dtype(summary[column]):
            continue
        values = pd.to_numeric(summary[column], errors="coerce")
        if values.notna().all() and values.nunique() > 1:
            swept[str(column)] = values.astype(float)
    return swept


def metric_columns(summary: pd.DataFrame) -> list[str]:
    """The summary-metric columns (`<scorer>/<name>`) with at least one finite number."""
    metrics = []
    for column in summary.columns:
        values = summary[column]
        if "/" not in str(column) or pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values) and np.isfinite(values.astype(float)).any():
            metrics.append(str(column))
    return metrics


def _series_labels(swept: Mapping[str, pd.Series], exclude: str, jobs: int) -> list[str]:
    """Per job, the values of the swept parameters other than `exclude` ("all jobs" when there are none)."""
    others = [name for name in swept if name != exclude]
    if not others:
        return ["all jobs"] * jobs
    columns = [[f"{name}={value:g}" for value in swept[name]] for name in others]
    return [", ".join(parts) for parts in zip(*columns, strict=True)]


def sweep_charts(summary: pd.DataFrame) -> dict[str, LineChart]:
    """One line chart per (metric, swept parameter), named `<metric>_vs_<parameter>` so that it sits in the
    metric's section of the W&B workspace; jobs with no value for the metric are left out of its chart."""
    swept = swept_parameters(summary)
    charts: dict[str, LineChart] = {}
    for metric in metric_columns(summary):
        values = summary[metric].astype(float).to_numpy()
        for parameter, axis in swept.items():
            frame = pd.DataFrame(
                {
                    parameter: axis.to_numpy(),
                    metric: values,
                    SERIES_COLUMN: _series_labels(swept, parameter, len(summary)),
                }
            )
            frame = frame[np.isfinite(values)].sort_values([SERIES_COLUMN, parameter], kind="stable")
            title = f"{metric} vs {parameter}"
            charts[f"{metric}_vs_{parameter}"] = LineChart(
                frame.reset_index(drop=True), parameter, metric, SERIES_COLUMN, title
            )
    return charts


def log_sweep_summary(
    cfg: Any,
    *,
    sweep_dir: Path,
    summary: pd.DataFrame,
    group: str,
    images: Mapping[str, Path] | None = None,
    comparisons: pd.DataFrame | None = None,
    findings: pd.DataFrame | None = None,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """One run of job_type "sweep-summary" in `group`: the table "sweep_summary" (one row per job), the table
    "paired_comparisons", a line chart of each metric against each swept parameter (see sweep_charts) and the
    report's plot PNGs as images under their names, through the configured tracker (W&B files go under
    `<sweep_dir>/wandb/`).
    """
    parts = [summary, *(t for t in (comparisons, findings) if t is not None), *(extra_tables or {}).values()]
    digest = content_digest({"images": sorted(images or {})}, *parts)
    if logged_before(sweep_dir, digest):
        log.info("the sweep summary was logged to the tracker before (%s); not logged again", TRACKED_FILE)
        return
    tracker = open_tracker(
        cfg,
        run_dir=Path(sweep_dir),
        name=f"{group}-summary",
        group=group,
        job_type=SWEEP_JOB_TYPE,
        config={"sweep_dir": str(sweep_dir), "jobs": len(summary)},
        tags=[SWEEP_JOB_TYPE],
    )
    with tracker:
        log.info("sweep summary: %s", tracker.where)
        if tracker.active:
            tables = {SWEEP_TABLE: summary}
            if comparisons is not None:
                tables[COMPARISONS_TABLE] = comparisons
            if findings is not None and not findings.empty:
                tables[FINDINGS_TABLE] = findings
            tables.update(extra_tables or {})
            tracker.log_tables(tables, images=images, charts=sweep_charts(summary))
            record_logged(sweep_dir, digest)


@dataclass
class SweepAnalysis:
    """What a sweep's end computes from its finished jobs (the tables are also written to the sweep dir); the
    study they were computed from, and its findings' rows, serve the report."""

    summary: pd.DataFrame
    study: Study | None = None
    comparisons: pd.DataFrame | None = None
    finding_rows: list[Finding] | None = None
    findings: pd.DataFrame | None = None
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def analyse_sweep(sweep_dir: Path) -> SweepAnalysis:
    """Write sweep_summary.parquet, paired_comparisons.parquet, findings.parquet and fidelity.parquet (each
    step failing softly: the job dirs on disk are the results)."""
    from harness.analysis.findings import findings_table
    from harness.analysis.study import load_study, study_comparisons, study_findings

    analysis = SweepAnalysis(sweep_summary(sweep_dir))
    if analysis.summary.empty:
        log.warning("no finished jobs in %s: no sweep summary", sweep_dir)
        return analysis
    write_parquet(sweep_dir / SWEEP_SUMMARY, analysis.summary)
    try:
        analysis.study = study = load_study([sweep_dir])
        analysis.comparisons = study_comparisons(study)
        write_parquet(sweep_dir / PAIRED_COMPARISONS, analysis.comparisons)
        analysis.finding_rows = study_findings(study)
        analysis.findings = findings_table(analysis.finding_rows)
        if not analysis.findings.empty:
            write_parquet(sweep_dir / FINDINGS, analysis.findings)
    except Exception as err:
        log.warning("the paired comparisons or findings failed (%s: %s)", type(err).__name__, err)
    try:
        fidelity = summarise_fidelity(sweep_dir)
        if fidelity is not None:
            analysis.extra_tables[FIDELITY_TABLE] = fidelity
    except Exception as err:
        log.warning("the sampler fidelity failed (%s: %s)", type(err).__name__, err)
    return analysis
