"""A tracker added from outside the harness: a run's results, metrics and tables as CSV files in its run dir.

The pyproject.toml beside this file makes it an installable plugin (entry point group `glide_eval.plugins`);
`logger=csv` picks it, its config node stored here, so no file under the harness's conf/ is needed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
from hydra.core.config_store import ConfigStore

from harness.errors import ConfigError
from harness.io import write_atomic
from harness.tracking import LineChart, register_tracker

log = logging.getLogger(__name__)

SAMPLES_FILE = "samples.csv"
METRICS_FILE = "metrics.csv"


@dataclass
class CsvTrackerConfig:
    """The `logger` node of `logger=csv`: `dir` is where the CSV files go, inside the run dir."""

    tracker: str = "csv"
    dir: str = "csv"

    def __post_init__(self) -> None:
        path = PurePath(self.dir)
        if not self.dir or path.is_absolute() or ".." in path.parts:
            raise ConfigError(f"logger.dir: {self.dir!r} must be a relative folder inside the run dir, without '..'")

    def files_dir(self, run_dir: Path) -> Path:
        """The folder the files go to (the job checks that it can be written before sampling)."""
        return Path(run_dir) / self.dir


def csv_cell(value: Any) -> Any:
    """A list-valued cell (a prompt's objects, say) as JSON text; any other value as it is."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return json.dumps([csv_cell(item) for item in value])
    return value.item() if isinstance(value, np.generic) else value


def file_name(table: str) -> str:
    """`bias/confusion` -> `bias__confusion.csv`: one file per table, all in one folder."""
    return table.replace("/", "__") + ".csv"


class CsvTracker:
    """Writes each table it is given to `<folder>/<name>.csv` (atomically); a failed write is one warning."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def active(self) -> bool:
        return True

    @property
    def where(self) -> str:
        return f"CSV: tables in {self.folder}"

    def log_results(
        self, results: pd.DataFrame, metrics: Mapping[str, float | None], tables: Mapping[str, pd.DataFrame]
    ) -> None:
        self._write(SAMPLES_FILE, results)
        self._write(METRICS_FILE, pd.DataFrame({"name": list(metrics), "value": list(metrics.values())}))
        for name, frame in tables.items():
            self._write(file_name(name), frame)

    def log_tables(
        self,
        tables: Mapping[str, pd.DataFrame],
        images: Mapping[str, Path] | None = None,
        charts: Mapping[str, LineChart] | None = None,
    ) -> None:
        for name, frame in tables.items():
            self._write(file_name(name), frame)
        for name, chart in (charts or {}).items():
            self._write(file_name(name), chart.frame[[chart.x, chart.y, chart.stroke]])
        if images:
            self._write("images.csv", pd.DataFrame({"name": list(images), "path": [str(p) for p in images.values()]}))

    def finish(self, exit_code: int = 0) -> None:
        pass

    def __enter__(self) -> CsvTracker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)

    def _write(self, file: str, frame: pd.DataFrame) -> None:
        # A tracker mirrors results already on disk: its own failure must not cost the run.
        try:
            cells = frame.apply(lambda column: column.map(csv_cell) if column.dtype == object else column)
            write_atomic(self.folder / file, cells.to_csv(index=False).encode())
        except Exception as error:
            log.warning(
                "CSV: writing %s failed (%s: %s); results on disk are unaffected", file, type(error).__name__, error
            )


def open_csv(
    cfg: CsvTrackerConfig,
    *,
    run_dir: Path,
    name: str,
    group: str | None,
    job_type: str,
    config: Mapping[str, Any],
    tags: list[str],
) -> CsvTracker:
    return CsvTracker(cfg.files_dir(run_dir))


register_tracker("csv", CsvTrackerConfig, open_csv)
ConfigStore.instance().store(group="logger", name="csv", node=CsvTrackerConfig)  # the option `logger=csv`
