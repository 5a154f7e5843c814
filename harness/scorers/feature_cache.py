"""Per-image feature cache: one .npy per (feature model, image content key), written atomically.

Layout: <cache_dir>/features/<model slug>/<key>.npy. Two processes writing the same key write the same
bytes, and os.replace makes the last one win whole, so concurrent runs are safe.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from harness.io import write_atomic

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[A-Za-z0-9._-]{1,120}")


def _safe_name(text: str) -> str:
    """The text itself when it is a safe file name, else a readable prefix plus a hash of the text."""
    if _SAFE.fullmatch(text) and not text.startswith("."):
        return text
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60].strip("._")
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_atomic(path, buffer.getvalue())


class FeatureCache:
    """Features of one model, keyed by image content key; `root=None` keeps nothing on disk."""

    def __init__(self, root: Path | None, model_id: str) -> None:
        self.model_id = model_id
        self.directory = None if root is None else Path(root) / "features" / _safe_name(model_id)

    def path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{_safe_name(key)}.npy"

    def load(self, key: str) -> np.ndarray | None:
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:  # allow_pickle=False refuses pickles with a ValueError
            log.warning("%s: cached features %s are unreadable (%s); computing them again", self.model_id, path, err)
            return None

    def store(self, key: str, features: np.ndarray) -> None:
        path = self.path(key)
        if path is not None:
            atomic_save_npy(path, np.asarray(features))

    def features(self, keys: Sequence[str], compute: Callable[[list[int]], np.ndarray]) -> np.ndarray:
        """Rows for `keys`, computing (with compute(positions) -> rows) only the keys not cached yet."""
        first: dict[str, int] = {}
        for position, key in enumerate(keys):
            first.setdefault(key, position)
        rows = {key: self.load(key) for key in first}
        missing = [key for key, row in rows.items() if row is None]
        if missing:
            cached = len(rows) - len(missing)
            log.info("%s: computing features of %d images (%d cached)", self.model_id, len(missing), cached)
            computed = np.asarray(compute([first[key] for key in missing]))
            for key, row in zip(missing, computed, strict=True):
                self.store(key, row)
                rows[key] = row
        return np.stack([rows[key] for key in keys]) if keys else np.empty((0, 0), dtype=np.float32)
