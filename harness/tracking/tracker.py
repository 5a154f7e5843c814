"""What every tracker offers the harness: the Tracker protocol and the tracker-neutral data it logs.

A tracker mirrors results that are already on disk, so none of its methods may raise for its own failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class LineChart:
    """The data of one line chart: column `y` against column `x`, one line per value of `stroke`."""

    frame: pd.DataFrame
    x: str
    y: str
    stroke: str
    title: str


class Tracker(Protocol):
    """One tracked run (a job, or a sweep's summary); a context manager that finishes the run on exit."""

    @property
    def active(self) -> bool: ...

    @property
    def where(self) -> str:
        """One line for the console: whether the run is tracked, where its files are, how to upload them."""

    def log_results(
        self, results: pd.DataFrame, metrics: Mapping[str, float | None], tables: Mapping[str, pd.DataFrame]
    ) -> None:
        """A job's per-sample results (the samples table), summary metrics and extra tables."""

    def log_tables(
        self,
        tables: Mapping[str, pd.DataFrame],
        images: Mapping[str, Path] | None = None,
        charts: Mapping[str, LineChart] | None = None,
    ) -> None:
        """Tables, image files and line charts, each under its name."""

    def finish(self, exit_code: int = 0) -> None: ...

    def __enter__(self) -> Tracker: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> one dict with dotted keys ({"a": {"b": 1}} -> {"a.b": 1}).

    Sequences become lists (their mappings plain dicts); an empty mapping stays as the value {} so that
    no key disappears. Two spellings of one key ({"a": {"b": 1}, "a.b": 2}) raise ValueError.
    """
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and len(value) > 0:
            items = flatten_config(value, prefix=f"{name}.").items()
        else:
            items = [(name, _plain(value))]
        for flat_key, flat_value in items:
            if flat_key in flat:
                raise ValueError(f"config key {flat_key!r} appears twice after flattening to dotted keys")
            flat[flat_key] = flat_value
    return flat


def _plain(value: Any) -> Any:
    """Containers from OmegaConf/NumPy as plain Python values for W&B config."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
