"""Building a report: load the study, draw its plots (metric curves and every view's), render the page.

The HTML file and its assets folder (`<stem>_files/`: thumbnails, plots) are written atomically, file by file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from harness.analysis.fidelity import read_fidelity
from harness.analysis.study import PathArg, Study, as_paths, load_study, study_comparisons, study_findings
from harness.io import write_atomic
from harness.report.cells import Links, SampleCells, ThumbnailStore
from harness.report.findings_view import findings_view
from harness.report.guide_scores import guide_scores_view
from harness.report.html import (
    comparisons_view,
    fidelity_view,
    grid_view,
    header_view,
    metrics_view,
    render_page,
    runs_view,
)
from harness.report.plots import Curve, PlotFile, draw_curves, metric_curves
from harness.report.report_options import ReportOptions
from harness.report.views import View, all_views, expected_scorers

if TYPE_CHECKING:
    import pandas as pd

    from harness.analysis.findings import Finding

log = logging.getLogger(__name__)


def build_report(
    paths: PathArg,
    out: Path | None = None,
    *,
    thumb_size: int = ReportOptions.thumb_size,
    options: ReportOptions | None = None,
) -> Path:
    """Write the HTML report for run dirs / sweep dirs `paths`; return its path.

    Default `out`: `<first path>/report.html`. Thumbnails and plots go to `<out stem>_files/` beside it
    (thumbnails are reused when present), so the page needs no network and no server.
    """
    options = replace(options or ReportOptions(), thumb_size=thumb_size)
    out = Path(out).expanduser().resolve() if out else default_out(paths)
    return write_report(load_study(paths), out, options, sources=as_paths(paths))


def write_report(
    study: Study,
    out: Path,
    options: ReportOptions,
    *,
    sources: Sequence[Path] = (),
    comparisons: pd.DataFrame | None = None,
    finding_rows: list[Finding] | None = None,
) -> Path:
    """Render `study` into `out` (plots and thumbnails in the assets folder beside it). Its paired comparisons
    and findings are computed here unless given (a sweep's end has computed them)."""
    assets = assets_dir(out)
    link = Links(out)
    cells = SampleCells(ThumbnailStore(assets / "thumbs", options.thumb_size, options.thumb_quality), link)
    curves, flat, drawn = _draw_plots(study, assets / "plots", options)
    header = header_view(study)
    comparisons = study_comparisons(study) if comparisons is None else comparisons
    finding_rows = study_findings(study) if finding_rows is None else finding_rows
    context = {
        "title": f"glide-eval report — {', '.join(header['models'])}",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": [str(p) for p in sources],
        "header": header,
        "grids": [grid_view(study, param, cells) for param in study.parameters or (None,)],
        "metrics": metrics_view(study, curves, link, expected_scorers(), flat=flat),
        "ci_level": f"{options.ci_level:.0%}",
        "views": [
            {"id": view.id, "title": view.title, "template": view.template, "data": data}
            for view, plots in drawn
            if (data := view.section(study, plots, cells, options)) is not None  # an optional view without data
        ],
        "findings": findings_view(finding_rows),
        "comparisons": comparisons_view(comparisons),
        "fidelity": fidelity_view([read_fidelity(p) for p in sources]),
        "guide_scores": guide_scores_view(study),
        "runs": runs_view(study),
        "thumb_size": options.thumb_size,
    }
    write_atomic(out, render_page(context).encode("utf-8"))
    n_plots = len(curves) + sum(len(plots) for _, plots in drawn)
    log.info("wrote %s (%d runs, %d samples, %d plots)", out, len(study.runs), len(study.samples), n_plots)
    return out


def write_plots(study: Study, folder: Path, options: ReportOptions) -> list[PlotFile]:
    """Draw every plot of the report into `folder`: the metric curves, then each view's plots."""
    curves, _, drawn = _draw_plots(study, folder, options)
    return curves + [plot for _, plots in drawn for plot in plots]


def _draw_plots(
    study: Study, folder: Path, options: ReportOptions
) -> tuple[list[PlotFile], list[Curve], list[tuple[View, list[PlotFile]]]]:
    """The metric curves drawn, those left undrawn as flat, and each view with the plots it drew (its section
    shows those)."""
    curves = metric_curves(study, options)
    drawn = draw_curves(curves, folder, options)
    return drawn, [c for c in curves if c.flat], [(view, view.plots(study, folder, options)) for view in all_views()]


def render_plots(
    paths: PathArg, out_dir: Path | None = None, *, options: ReportOptions | None = None, study: Study | None = None
) -> dict[str, Path]:
    """The report's plots as PNG files, keyed by a W&B image name (for the sweep summary run).

    Default folder: the plots folder of the report that `build_report` writes for the same paths. `study` is
    the study of `paths` where the caller has loaded it.
    """
    study = study if study is not None else load_study(paths)
    folder = out_dir or assets_dir(default_out(paths)) / "plots"
    return {plot.name: plot.path for plot in write_plots(study, folder, options or ReportOptions())}


def assets_dir(out: Path) -> Path:
    """The folder beside the HTML file that holds its thumbnails and plots."""
    return out.with_name(f"{out.stem}_files")


def default_out(paths: PathArg) -> Path:
    """Where the report of `paths` goes without -o: report.html in the first path."""
    return as_paths(paths)[0].expanduser().resolve() / "report.html"
