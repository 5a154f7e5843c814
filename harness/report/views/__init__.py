"""Each scorer's part of the report: the scorers the page has a metrics section for, and the views they add.

A new scorer with its own section: one module here with a View, and one line in SCORER_VIEWS (or, for a
scorer that only some runs have, in OPTIONAL_VIEWS: its section returns None where no run has its data).
"""

from __future__ import annotations

from harness.report.views import bias, inpaint
from harness.report.views.view import View

# Page order. Every scorer named here gets a metrics section (one line saying "not computed" and why when a run
# asked for it but none has its metrics; none when no run asked for it); its views follow the metrics as
# sections of their own.
SCORER_VIEWS: dict[str, tuple[View, ...]] = {
    "clip": (),
    "fid": (),
    "bias": (bias.VIEW,),
}
# Views of one kind of run (inpainting): on the page only when a run of that kind is in the study.
OPTIONAL_VIEWS: tuple[View, ...] = (inpaint.VIEW,)


def expected_scorers() -> tuple[str, ...]:
    """The scorers the report expects results of, in page order."""
    return tuple(SCORER_VIEWS)


def all_views() -> tuple[View, ...]:
    """Every view of every scorer, in page order."""
    return (*(view for views in SCORER_VIEWS.values() for view in views), *OPTIONAL_VIEWS)
