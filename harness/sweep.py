"""The end of a multirun: one sweep summary (a row per job: its overrides and summary metrics) on disk and
in W&B, and the HTML report of the whole sweep.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.io import write_parquet

log = logging.getLogger(__name__)

SWEEP_SUMMARY = "sweep_summary.parquet"


def sweep_summary(sweep_dir: Path) -> pd.DataFrame:
    """One row per finished job (a job dir with summary.json): job, run_dir, overrides, metrics."""
    from harness.report import finished_job_dirs, parse_overrides  # the report reads sweeps the same way

    rows = []
    for job_dir in finished_job_dirs(sweep_dir):
        summary = json.loads((job_dir / "summary.json").read_text())
        row: dict[str, Any] = {"job": int(job_dir.name), "run_dir": str(job_dir.resolve())}
        row.update(parse_overrides(summary["run"].get("overrides", [])))
        row.update(summary["metrics"])
        rows.append(row)
    return pd.DataFrame(rows)


def summarise_sweep(sweep_dir: Path, logger_cfg: dict | None, group: str | None) -> pd.DataFrame:
    """Write sweep_summary.parquet and the report, and log the summary to W&B (each step failing softly)."""
    from harness.report import build_report, render_plots
    from harness.tracking import LoggerConfig, log_sweep_summary

    summary = sweep_summary(sweep_dir)
    if summary.empty:
        log.warning("no finished jobs in %s: no sweep summary", sweep_dir)
        return summary
    write_parquet(sweep_dir / SWEEP_SUMMARY, summary)
    images: dict[str, Path] = {}
    try:
        report = build_report([sweep_dir])
        images = render_plots([sweep_dir])
        log.info("sweep report: %s", report)
    except Exception as err:  # the summary on disk stands; a report problem must not hide it
        log.warning("building the sweep report failed (%s: %s); python -m harness.report %s retries it",
                    type(err).__name__, err, sweep_dir)  # fmt: skip
    if logger_cfg is not None:
        log_sweep_summary(
            LoggerConfig.from_mapping(logger_cfg), sweep_dir=sweep_dir, summary=summary, group=group, images=images
        )
    return summary


class SweepSummary(Callback):
    """Hydra callback (conf/config.yaml: hydra.callbacks.sweep_summary)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        group = config.get("experiment") or sweep_dir.name
        logger_cfg = dict(config.logger) if "logger" in config else None
        summarise_sweep(sweep_dir, logger_cfg, group)
