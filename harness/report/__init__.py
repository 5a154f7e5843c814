"""Offline review of runs and sweeps: one self-contained HTML file with image grids, metric plots and tables.

Reads only what harness.run.rundir reads from run dirs; W&B is optional. Parts: load (the study), series and
plots (metrics over swept parameters), views (each scorer's own section), html (the page), build, wandb_report.
"""

from harness.analysis.study import Run, Study, SweptParameter, discover_run_dirs, load_study
from harness.report.build import build_report, render_plots, study_comparisons, write_report
from harness.report.options import ReportInputError, ReportOptions
from harness.report.wandb_report import WandbReportError, create_wandb_report

__all__ = [
    "ReportInputError",
    "ReportOptions",
    "Run",
    "Study",
    "SweptParameter",
    "WandbReportError",
    "build_report",
    "create_wandb_report",
    "discover_run_dirs",
    "load_study",
    "render_plots",
    "study_comparisons",
    "write_report",
]
