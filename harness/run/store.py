"""The sample store: PNG files named by content key, each written atomically, shared by runs and shards.

A PNG's bytes depend only on its pixels and spec (its timing is a JSON file beside it); runs sharing a store
claim a key with an advisory lock before computing it, so no sample is computed twice.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from harness.io import remove_stale_temps, write_atomic, write_json

_META_KEY = "glide-eval"
_TIMING_SUFFIX = ".timing.json"
_LOCK_SUFFIX = ".lock"


def encode_png(image: np.ndarray, meta: dict[str, Any]) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(_META_KEY, json.dumps(meta, sort_keys=True))
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), "RGB").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_png(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The (H, W, 3) uint8 pixels and the metadata a store PNG carries."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")), _meta(image)


def read_png_meta(path: Path) -> dict[str, Any]:
    """The metadata of a store PNG, without decoding its pixels."""
    with Image.open(path) as image:
        return _meta(image)


def _meta(image: Image.Image) -> dict[str, Any]:
    return json.loads(image.text.get(_META_KEY, "{}"))


class SampleStore:
    """64px base samples under base/, 256px samples under upsample/, each at <key[:2]>/<key>.png.

    Opening a store removes what killed runs left in it: temp files and lock files that no live process holds.
    """

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        if self.root.is_dir():
            remove_stale_temps(self.root, recursive=True)
            for lock in self.root.glob(f"*/*/*{_LOCK_SUFFIX}"):
                _remove_unheld_lock(lock)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.png"

    def has(self, stage: str, key: str) -> bool:
        return self.path(stage, key).is_file()

    def put(self, stage: str, key: str, image: np.ndarray, meta: dict[str, Any], seconds: float | None = None) -> Path:
        """Store the sample; `seconds` (its compute time) goes to a file beside it, never into the PNG."""
        path = self.path(stage, key)
        if seconds is not None:  # first, so that a PNG that exists has its timing
            write_json(path.with_suffix(_TIMING_SUFFIX), {"time_s": seconds})
        write_atomic(path, encode_png(image, {"key": key, **meta}))
        return path

    def get(self, stage: str, key: str) -> tuple[np.ndarray, dict[str, Any]]:
        return read_png(self.path(stage, key))

    def meta(self, stage: str, key: str) -> dict[str, Any]:
        return read_png_meta(self.path(stage, key))

    def seconds(self, stage: str, key: str) -> float | None:
        """The compute time recorded with the sample; None when it was stored without one."""
        try:
            return json.loads(self.path(stage, key).with_suffix(_TIMING_SUFFIX).read_text())["time_s"]
        except (OSError, ValueError, KeyError):
            return None

    @contextmanager
    def claim(self, stage: str, keys: Iterable[str]) -> Iterator[set[str]]:
        """Hold the lock of every key (waiting for other runs that hold one) and yield those still missing.

        Check, compute and put inside the `with`: a run sharing the store waits, then finds the samples there.
        Keys are locked in sorted order, so runs claiming overlapping batches cannot deadlock.
        """
        keys = set(keys)
        held = []
        try:
            for key in sorted(keys):
                held.append(_lock(self.path(stage, key).with_suffix(_LOCK_SUFFIX)))
            yield {key for key in keys if not self.has(stage, key)}
        finally:
            for path, fd in reversed(held):
                path.unlink(missing_ok=True)  # before the release: a waiter then sees a new file (see _lock)
                os.close(fd)


def _lock(path: Path) -> tuple[Path, int]:
    """An exclusive flock on the file at `path`; retried when the file was replaced while waiting for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # The holder unlinks the file before releasing it; a lock on an unlinked file guards nothing.
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return path, fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _remove_unheld_lock(path: Path) -> None:
    """Remove a lock file its killed holder left, unless a live process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink(missing_ok=True)
    except OSError:
        pass  # held: a live run is computing that key
    finally:
        os.close(fd)
