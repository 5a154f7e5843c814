"""The sample store: PNG files named by content key, each written atomically, shared by runs and shards.

A file that exists is complete (temp file + rename), so concurrent writers and killed runs never leave a
half-written sample; a sample's metadata (its spec and timing) travels inside the PNG as text chunks.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, PngImagePlugin

_META_KEY = "glide-eval"


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=False, allow_nan=False) + "\n").encode())


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_atomic(path, buffer.getvalue())


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
    """64px base samples under base/, 256px samples under upsample/, each at <key[:2]>/<key>.png."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.png"

    def has(self, stage: str, key: str) -> bool:
        return self.path(stage, key).is_file()

    def put(self, stage: str, key: str, image: np.ndarray, meta: dict[str, Any]) -> Path:
        path = self.path(stage, key)
        write_atomic(path, encode_png(image, {"key": key, **meta}))
        return path

    def get(self, stage: str, key: str) -> tuple[np.ndarray, dict[str, Any]]:
        return read_png(self.path(stage, key))

    def meta(self, stage: str, key: str) -> dict[str, Any]:
        return read_png_meta(self.path(stage, key))
