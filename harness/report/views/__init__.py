"""Each scorer's part of the report: the scorers the page has a metrics section for, and the views they add.

A new scorer with its own section: one module here with a View, and one line in SCORER_VIEWS.
"""

from __future__ import annotations

from harness.report.views import bias
from harness.report.views.protocol import View

# Page order. Every scorer named here gets a metrics section (saying "not computed" when no run has its
# metrics); its views follow the metrics as sections of their own.
SCORER_VIEWS: dict[str, tuple[View, ...]] = {
    "clip": (),
    "fid": (),
    "bias": (bias.VIEW,),
}


def expected_scorers() -> tuple[str, ...]:
    """The scorers the report expects results of, in page order."""
    return tuple(SCORER_VIEWS)


def all_views() -> tuple[View, ...]:
    """Every view of every scorer, in page order."""
    return tuple(view for views in SCORER_VIEWS.values() for view in views)
