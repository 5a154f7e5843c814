"""Samples as the page shows them: JPEG thumbnails beside the page, links relative to it, one cell per sample.

A cell is what the template's `sample` macro draws: the thumbnail, the seed and scores below it, every
value of the sample on hover.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from PIL import Image

from harness.analysis.study import PARAM_PREFIX
from harness.analysis.values import format_value
from harness.io import write_atomic

log = logging.getLogger(__name__)


class ThumbnailStore:
    """JPEG thumbnails of sample PNGs, named by content key and size; made once, reused by later reports."""

    def __init__(self, folder: Path, size: int, quality: int) -> None:
        self.folder, self.size, self.quality = folder, size, quality
        self._made: dict[str, Path | None] = {}

    def thumbnail(self, key: str, source: str | None) -> Path | None:
        """Path of the thumbnail of `source`, or None (logged) when the image file is missing."""
        if key not in self._made:
            self._made[key] = self._make(key, source)
        return self._made[key]

    def _make(self, key: str, source: str | None) -> Path | None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        target = self.folder / f"{safe}_{self.size}.jpg"
        if target.is_file():
            return target
        if not source or not os.path.isfile(source):
            log.warning("sample %s: image file %s is missing; the report shows a placeholder", key, source)
            return None
        with Image.open(source) as image:
            image = image.convert("RGB")
            image.thumbnail((self.size, self.size), Image.Resampling.BICUBIC)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=self.quality)
        write_atomic(target, buffer.getvalue())
        return target


class Links:
    """Turns files under the assets folder into URLs relative to the HTML file."""

    def __init__(self, out: Path) -> None:
        self.base = out.parent

    def __call__(self, path: Path | None) -> str | None:
        return None if path is None else quote(os.path.relpath(path, self.base).replace(os.sep, "/"))


class SampleCells:
    """Template cells of samples, their thumbnails made on first use and linked relative to the page."""

    def __init__(self, thumbs: ThumbnailStore, link: Links) -> None:
        self.thumbs, self.link = thumbs, link

    def cell(self, row: pd.Series, score_columns: Sequence[str]) -> dict:
        path = row.get("path_256") if isinstance(row.get("path_256"), str) else row.get("path_64")
        src = self.link(self.thumbs.thumbnail(str(row["key"]), path))
        scores = [(c, format_value(row[c])) for c in score_columns if c in row and row[c] is not None]
        details = [
            f"run: {row['run']}",
            f"prompt: {row.get('prompt', '')}",
            f"seed: {format_value(row.get('seed'))}",
        ]
        details += [f"{c}: {format_value(row[c])}" for c in row.index if "." in c and not c.startswith(PARAM_PREFIX)]
        details += [f"key: {row['key']}"]
        return {
            "src": src,
            "key": str(row["key"]),
            "seed": format_value(row.get("seed")),
            "scores": scores,
            "title": "\n".join(details),
        }
