"""What a scorer returns to the runner, and the interface every scorer implements.

Columns are per sample (same index as the samples table); metrics, tables and notes are per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ScoreResult:
    """Per-sample `columns` named `<scorer>.<col>`, flat `metrics` named `<scorer>/<metric>` (None when a
    metric cannot be computed, with a note saying why), extra `tables` and human-readable `notes`."""

    columns: pd.DataFrame
    metrics: dict[str, float | None] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Scorer(Protocol):
    name: str

    def score(self, samples: pd.DataFrame) -> ScoreResult: ...


def require_columns(samples: pd.DataFrame, columns: tuple[str, ...], scorer: str) -> None:
    """The samples table must carry the manifest columns a scorer reads."""
    missing = [c for c in columns if c not in samples.columns]
    if missing:
        raise ValueError(f"{scorer}: the samples table lacks column(s) {', '.join(missing)}")
