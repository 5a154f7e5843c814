"""The report's metric plots (matplotlib, PNG files): each metric against each swept parameter, CI bands shaded.

Also the PlotFile record and the figure-saving every view's plots go through.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from harness.io import write_atomic
from harness.report.load import Study, SweptParameter
from harness.report.metric_names import is_count, split_metric
from harness.report.options import ReportOptions
from harness.report.series import Series, group_series, metric_series, score_series
from harness.report.values import format_value, is_numeric

matplotlib.use("Agg")


@dataclass(frozen=True)
class PlotFile:
    """A plot PNG written for the report (and for W&B), with what it shows."""

    name: str
    path: Path
    kind: str
    metric: str = ""
    parameter: str = ""
    run: str = ""


def save_figure(fig: Figure, path: Path, dpi: int) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())
    return path


def slug(text: str) -> str:
    """`text` as a file-name part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def draw_series(
    series: Sequence[Series], *, metric: str, param: SweptParameter, ci_level: float, held: str = ""
) -> Figure:
    """Lines with markers and shaded CI bands; categorical x positions when the parameter is not numeric."""
    fig = Figure(figsize=(4.8, 3.2))
    ax = fig.add_subplot()
    numeric = is_numeric(param.values)
    position = {v: i for i, v in enumerate(param.values)}
    banded = False
    for line in series:
        x = [float(v) if numeric else position[v] for v in line.x]
        (drawn,) = ax.plot(x, line.y, marker="o", label=line.label)
        band = [(xi, lo, hi) for xi, lo, hi in zip(x, line.low, line.high, strict=True) if None not in (lo, hi)]
        if band:
            bx, lo, hi = zip(*band, strict=True)
            ax.fill_between(bx, lo, hi, color=drawn.get_color(), alpha=0.2, linewidth=0)
            banded = True
    if not numeric:
        ax.set_xticks(range(len(param.values)), [format_value(v) for v in param.values])
    ax.set_xlabel(param.name)
    ax.set_ylabel(metric)
    # The title promises a band only where one is drawn: set metrics (FID, KID) carry no interval.
    title = f"{metric} vs {param.name} ({f'bands: {ci_level:.0%} CI' if banded else 'no interval'})"
    ax.set_title(f"{title}\nat {held}" if held else title, fontsize=9)
    if len(series) > 1:
        # Right of the axes, not inside them, where it would hide the bands; the saved figure grows to hold it.
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    ax.grid(alpha=0.3)
    return fig


def metric_plots(study: Study, folder: Path, options: ReportOptions) -> list[PlotFile]:
    """Every metric curve: summary metrics (grouped ones as one line per group) against each parameter
    swept between runs, and per-sample score means against each parameter that varies inside runs."""
    plotted = [m for m in study.metric_names if not is_count(m)]
    stems = dict.fromkeys(split_metric(m)[0] for m in plotted if split_metric(m)[1] is not None)
    plots = []
    for param in (p for p in study.plot_parameters if p.between_runs):
        for metric in (m for m in plotted if split_metric(m)[1] is None):
            series = metric_series(study, metric, param)
            if series:
                plots.append(_curve(series, metric, param, folder, options))
        held = ", ".join(
            f"{p.name}={format_value(p.held_value)}" for p in study.parameters if p.between_runs and p is not param
        )
        for stem in stems:
            series = group_series(study, stem, param)
            if series:
                plots.append(_curve(series, f"{stem}[*]", param, folder, options, held=held))
    for column in study.score_columns:
        for param in (p for p in study.plot_parameters if not p.between_runs):
            series = score_series(study, column, param, options.ci_level)
            if series:
                plots.append(_curve(series, f"{column} (mean)", param, folder, options))
    return plots


def _curve(
    series, metric: str, param: SweptParameter, folder: Path, options: ReportOptions, held: str = ""
) -> PlotFile:
    fig = draw_series(series, metric=metric, param=param, ci_level=options.ci_level, held=held)
    path = save_figure(fig, folder / f"{slug(metric)}__vs__{slug(param.name)}.png", options.plot_dpi)
    return PlotFile(f"report/{metric} vs {param.name}", path, "metric", metric=metric, parameter=param.name)
