"""The report's metric plots (matplotlib, PNG files): each metric against each swept parameter, CI bands shaded;
a curve whose every line is constant is not drawn but said in one line.

Also the PlotFile record and the figure-saving every view's plots go through.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from harness.analysis.metric_names import is_count, split_metric
from harness.analysis.study import Study, SweptParameter
from harness.analysis.values import format_value, is_numeric
from harness.io import write_atomic
from harness.report.report_options import ReportOptions
from harness.report.series import Series, group_series, metric_series, score_series

matplotlib.use("Agg")

# A curve is flat when all its values agree to round-off: summary metrics pass through JSON and float sums.
FLAT_RTOL = 1e-9
FLAT_ATOL = 1e-12


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


@dataclass(frozen=True)
class Curve:
    """A metric against a swept parameter: the lines of its plot, and the other parameters held (if any)."""

    metric: str
    param: SweptParameter
    series: tuple[Series, ...]
    held: str = ""

    @property
    def flat(self) -> bool:
        """Every line constant within round-off (and some line has more than one point): a plot that says nothing."""
        if not any(len(line.y) > 1 for line in self.series):
            return False
        return all(
            math.isclose(y, line.y[0], rel_tol=FLAT_RTOL, abs_tol=FLAT_ATOL) for line in self.series for y in line.y
        )

    def flat_line(self) -> str:
        """What the plot of a flat curve would show, in one line: `X vs Y: flat at V in every series`."""
        levels: dict[str, list[str]] = {}
        for line in self.series:
            levels.setdefault(format_value(line.y[0]), []).append(line.label)
        where = f" (at {self.held})" if self.held else ""
        if len(levels) == 1:
            (value,) = levels
            return f"{self.metric} vs {self.param.name}: flat at {value} in every series{where}"
        at = "; ".join(f"{', '.join(labels)} at {value}" for value, labels in levels.items())
        return f"{self.metric} vs {self.param.name}: flat in every series{where}: {at}"


def metric_curves(study: Study, options: ReportOptions) -> list[Curve]:
    """Every metric curve: summary metrics (grouped ones as one line per group) against each parameter
    swept between runs, and per-sample score means against each parameter that varies inside runs."""
    plotted = [m for m in study.metric_names if not is_count(m)]
    stems = dict.fromkeys(split_metric(m)[0] for m in plotted if split_metric(m)[1] is not None)
    curves = []
    for param in (p for p in study.plot_parameters if p.between_runs):
        for metric in (m for m in plotted if split_metric(m)[1] is None):
            curves.append(Curve(metric, param, tuple(metric_series(study, metric, param))))
        held = ", ".join(
            f"{p.name}={format_value(p.held_value)}" for p in study.parameters if p.between_runs and p is not param
        )
        for stem in stems:
            curves.append(Curve(f"{stem}[*]", param, tuple(group_series(study, stem, param)), held=held))
    for column in study.score_columns:
        for param in (p for p in study.plot_parameters if not p.between_runs):
            curves.append(Curve(f"{column} (mean)", param, tuple(score_series(study, column, param, options.ci_level))))
    return [curve for curve in curves if curve.series]


def draw_curves(curves: Sequence[Curve], folder: Path, options: ReportOptions) -> list[PlotFile]:
    """The plot of every curve that is not flat (a flat one is a line of text on the page instead)."""
    return [_draw(curve, folder, options) for curve in curves if not curve.flat]


def _draw(curve: Curve, folder: Path, options: ReportOptions) -> PlotFile:
    metric, param = curve.metric, curve.param
    fig = draw_series(curve.series, metric=metric, param=param, ci_level=options.ci_level, held=curve.held)
    path = save_figure(fig, folder / f"{slug(metric)}__vs__{slug(param.name)}.png", options.plot_dpi)
    return PlotFile(f"report/{metric} vs {param.name}", path, "metric", metric=metric, parameter=param.name)
