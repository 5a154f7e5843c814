"""The report's knobs and its one input error: sizes, qualities and the CI level, checked once at the edge.

Every part of the report takes a ReportOptions; StudyInputError is what the command turns into one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.analysis.study import StudyInputError


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of the report; defaults are the ones the CLI and the Hydra callback use."""

    thumb_size: int = 128
    thumb_quality: int = 85
    images_per_bar: int = 12
    ci_level: float = 0.95
    plot_dpi: int = 100

    def __post_init__(self) -> None:
        if not 16 <= self.thumb_size <= 1024:
            raise StudyInputError(f"thumb_size must be between 16 and 1024 pixels, got {self.thumb_size}")
        if self.images_per_bar < 0:
            raise StudyInputError(f"images_per_bar must be >= 0, got {self.images_per_bar}")
        if not 0.0 < self.ci_level < 1.0:
            raise StudyInputError(f"ci_level must be in (0, 1), got {self.ci_level}")
