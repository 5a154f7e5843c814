"""What a scorer's view is: the plots it draws from the runs' tables and the page section it fills with them.

A view knows one scorer's tables and columns; the rest of the report knows none and renders every view alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.study import Study
from harness.report.cells import SampleCells
from harness.report.plots import PlotFile
from harness.report.report_options import ReportOptions

# Draws the view's plots into a folder; they go on the page and, as images, to the W&B sweep summary.
PlotsFn = Callable[[Study, Path, ReportOptions], list[PlotFile]]
# The data of the view's template, from the study and the plots that the view's PlotsFn drew; None leaves the
# section out (no run asked for the view's scorer or kind of run, and none has its data).
SectionFn = Callable[[Study, Sequence[PlotFile], SampleCells, ReportOptions], dict[str, Any] | None]


@dataclass(frozen=True)
class View:
    """A section of the page beyond the metrics: `template` (under the report's templates/) gets `view.data`
    from `section`; the page links it from its navigation as `title` at `#id`."""

    id: str
    title: str
    template: str
    plots: PlotsFn
    section: SectionFn
