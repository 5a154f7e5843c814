"""The bias probe's view: per run, the class-share chart, the confusion matrix and the images behind each bar.

Reads what the bias scorer writes: its tables bias/distribution and bias/confusion and its column bias.pred.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.analysis.study import Run, Study, run_settings
from harness.analysis.values import format_value
from harness.report.cells import SampleCells
from harness.report.plots import PlotFile, save_figure, slug
from harness.report.report_options import ReportOptions
from harness.report.views.view import View
from harness.run.rundir import table_file

BIAS_PRED_COLUMN = "bias.pred"
BIAS_TABLES = {"distribution": "bias/distribution", "confusion": "bias/confusion"}


def draw_distribution(table: pd.DataFrame, *, title: str) -> Figure:
    """Class shares as bars with CI error bars (share, ci_low, ci_high), count on each bar."""
    fig = Figure(figsize=(4.2, 2.8))
    ax = fig.add_subplot()
    x = np.arange(len(table))
    share = table["share"].to_numpy(dtype=float)
    errors = np.vstack([share - table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float) - share])
    # A bound is NaN when the scorer could not compute it (fewer than two probe samples): no error bar.
    errors = np.clip(np.nan_to_num(errors, nan=0.0), 0, None)
    share = np.nan_to_num(share)
    ax.bar(x, share, yerr=errors, capsize=3, color="tab:blue", alpha=0.8)
    for xi, (s, n) in enumerate(zip(share, table["count"], strict=True)):
        ax.annotate(f"n={n}", (xi, s), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    ax.set_xticks(x, [str(c) for c in table["class"]], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.set_title(title, fontsize=9)
    return fig


# A confusion cell's side: full size up to MATRIX_IN / CELL_IN classes, smaller beyond so that the matrix stays
# within MATRIX_IN (800 px at the default 100 dpi, inside the page's column at 1280 px).
CELL_IN = 0.5
MATRIX_IN = 8.0
MARGIN_IN = 2.0  # room for the class names, axis labels and title, which the saved figure is cropped to


def confusion_fonts(n_classes: int) -> tuple[float, float, float]:
    """(cell side in inches, count font size, class-name font size in points) for an n x n matrix: the fonts
    scale with the cell, so a count fills about a third of its cell's height at any size."""
    cell = min(CELL_IN, MATRIX_IN / max(n_classes, 1))
    return cell, max(6.0, 0.3 * cell * 72), max(6.0, min(10.0, 0.25 * cell * 72))


def draw_confusion(matrix: pd.DataFrame, *, title: str) -> Figure:
    """Counts of predicted (columns) per expected (rows) class, as an annotated heat map sized to the matrix."""
    counts = matrix.to_numpy(dtype=float)
    rows, cols = counts.shape
    cell, count_pt, label_pt = confusion_fonts(max(rows, cols))
    width, height = cols * cell, rows * cell
    fig = Figure(figsize=(width + MARGIN_IN, height + MARGIN_IN))
    # The axes hold exactly the matrix, MARGIN_IN left of and below it for the names.
    ax = fig.add_axes(
        (
            MARGIN_IN / fig.get_figwidth(),
            MARGIN_IN / fig.get_figheight(),
            width / fig.get_figwidth(),
            height / fig.get_figheight(),
        )
    )
    ax.imshow(counts, cmap="Blues", vmin=0, aspect="auto")
    peak = counts.max() if counts.size else 0
    for (i, j), n in np.ndenumerate(counts):
        color = "white" if n > peak / 2 else "black"
        ax.text(j, i, f"{n:g}", ha="center", va="center", fontsize=count_pt, color=color)
    ax.set_xticks(range(cols), [str(c) for c in matrix.columns], rotation=40, ha="right", fontsize=label_pt)
    ax.set_yticks(range(rows), [str(c) for c in matrix.index], fontsize=label_pt)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    ax.set_title(title, fontsize=max(9.0, label_pt))
    return fig


def confusion_matrix(run: Run) -> pd.DataFrame | None:
    """The bias probe's confusion table with expected classes as the index (also if stored as a column)."""
    matrix = run.table(BIAS_TABLES["confusion"])
    if matrix is None:
        return None
    first = matrix.columns[0] if len(matrix.columns) else None
    if (
        isinstance(matrix.index, pd.RangeIndex)
        and first is not None
        and not pd.api.types.is_numeric_dtype(matrix[first])
    ):
        matrix = matrix.set_index(first)
    return matrix


def bias_plots(study: Study, folder: Path, options: ReportOptions) -> list[PlotFile]:
    """Per run with bias tables: its class-share chart and its confusion matrix."""
    plots = []
    for run in study.runs:
        plots.extend(_run_plots(run, run_settings(study, run), folder, options))
    return plots


def _run_plots(run: Run, settings: str, folder: Path, options: ReportOptions) -> list[PlotFile]:
    plots = []
    distribution = run.table(BIAS_TABLES["distribution"])
    if distribution is not None and len(distribution):
        title = f"class shares — {run.label}" + (f"\n{settings}" if settings else "")
        fig = draw_distribution(distribution, title=title)
        path = save_figure(fig, folder / f"bias_distribution__{slug(run.label)}.png", options.plot_dpi)
        plots.append(PlotFile(f"report/bias distribution {run.label}", path, "bias-distribution", run=run.label))
    matrix = confusion_matrix(run)
    if matrix is not None and matrix.size:
        fig = draw_confusion(matrix, title=f"control prompts — {run.label}")
        path = save_figure(fig, folder / f"bias_confusion__{slug(run.label)}.png", options.plot_dpi)
        plots.append(PlotFile(f"report/bias confusion {run.label}", path, "bias-confusion", run=run.label))
    return plots


def bias_section(
    study: Study, plots: Sequence[PlotFile], cells: SampleCells, options: ReportOptions
) -> dict[str, Any] | None:
    """Per run with bias plots: the chart, the confusion matrix and the images behind each bar; and the
    tables a run needs to appear here (named when none has them). None when no run asked for the bias probe
    and none has its tables."""
    by_run = {(p.kind, p.run): p for p in plots}
    runs = []
    for run in study.runs:
        chart = by_run.get(("bias-distribution", run.label))
        confusion = by_run.get(("bias-confusion", run.label))
        if chart is None and confusion is None:
            continue
        distribution = run.table(BIAS_TABLES["distribution"]) if chart else None
        probed = _probe_samples(study.samples[study.samples["run"] == run.label])
        bars = (
            []
            if distribution is None
            else [_bar_view(bar, probed, study, cells, options) for _, bar in distribution.iterrows()]
        )
        runs.append(
            {
                "run": run.label,
                "settings": run_settings(study, run),
                "chart": cells.link(chart.path) if chart else None,
                "confusion": cells.link(confusion.path) if confusion else None,
                "bars": bars,
            }
        )
    if not runs and not study.asked_for("bias"):
        return None
    return {"runs": runs, "tables": [table_file(name) for name in BIAS_TABLES.values()]}


def _probe_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """Samples of the probed prompts, i.e. naming no expected class (controls feed the confusion matrix)."""
    if BIAS_PRED_COLUMN not in samples:
        return samples.iloc[0:0]
    if "expected_class" in samples:
        expected = samples["expected_class"]
        samples = samples[expected.isna() | (expected.astype(str) == "")]
    return samples


def _bar_view(bar: pd.Series, probed: pd.DataFrame, study: Study, cells: SampleCells, options: ReportOptions) -> dict:
    behind = probed[probed[BIAS_PRED_COLUMN] == bar["class"]] if len(probed) else probed
    shown = behind.sort_values(["seed", "key"], kind="stable").head(options.images_per_bar)
    return {
        "class": str(bar["class"]),
        "share": format_value(bar["share"]),
        "ci": f"[{format_value(bar['ci_low'])}, {format_value(bar['ci_high'])}]",
        "count": format_value(bar["count"]),
        "total": len(behind),
        "images": [cells.cell(row, study.score_columns) for _, row in shown.iterrows()],
    }


VIEW = View(id="bias", title="Bias", template="views/bias.html.j2", plots=bias_plots, section=bias_section)
