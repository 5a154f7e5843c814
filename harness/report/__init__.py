"""Offline review of runs and sweeps: one self-contained HTML file with image grids, metric plots and tables.

Presentation only: the study (harness.analysis.study) and everything computed from it come from analysis.
Parts: series and plots (metrics over swept parameters), views (each scorer's own section), html (the page),
build, wandb_report.
"""

from harness.report.build import build_report, render_plots, write_report
from harness.report.report_options import ReportOptions
from harness.report.wandb_report import WandbReportError, create_wandb_report

__all__ = [
    "ReportOptions",
    "WandbReportError",
    "build_report",
    "create_wandb_report",
    "render_plots",
    "write_report",
]
