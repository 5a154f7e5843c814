"""Atomic file writes: every file the harness writes appears whole (temp file + rename), with the user's umask.

A full disk becomes one DiskFullError naming the file and the space it needs; temp files of killed runs are removed.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness import errors
from harness.glide.files import current_umask

if TYPE_CHECKING:
    import pandas as pd

# A temp file is stale when no process holds its lock and it is older than this: the lock is taken right after
# the file is created, so the age only covers that instant (and temp files of writers that took no lock).
STALE_TEMP_AGE_S = 60.0
_TEMP_SUFFIX = ".tmp"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# Folders whose stale temp files this process has removed: one listing per folder, not one per write (a
# report writes thousands of thumbnails into one folder).
_swept_folders: set[Path] = set()


class DiskFullError(errors.DiskFullError):
    """A write that found no space left on its filesystem; the message names the file and the space needed."""

    def __init__(self, path: Path, needed: int):
        self.path, self.needed = Path(path), needed
        try:
            self.free = shutil.disk_usage(self.path.parent).free
        except OSError:
            self.free = 0
        super().__init__(
            f"no space left on the disk of {str(self.path)!r}: writing it needs {_mib(needed)} "
            f"and {_mib(self.free)} is free; free some space there (or point the output elsewhere) and rerun"
        )


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def write_all(fd: int, data: bytes, *, path: Path) -> None:
    """Write all of `data` to the open file `fd` and sync it; ENOSPC/EDQUOT become a DiskFullError for `path`."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as err:
        if err.errno in _NO_SPACE:
            raise DiskFullError(path, len(data)) from None
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either nothing or the whole file, with the umask's mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent not in _swept_folders:  # what a killed run left here goes on its successor's first write
        remove_stale_temps(path.parent)
        _swept_folders.add(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
    except OSError as err:  # a filesystem out of inodes cannot even create the temp file
        if err.errno in _NO_SPACE:
            raise DiskFullError(path, len(data)) from None
        raise
    try:
        # Held until the rename: a cleaner of another run sees the temp file as live (see remove_stale_temps).
        fcntl.flock(fd, fcntl.LOCK_EX)
        write_all(fd, data, path=path)
        # mkstemp creates the file 0600; the final file gets the mode open() would give it.
        os.fchmod(fd, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=False, allow_nan=False) + "\n").encode())


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_atomic(path, buffer.getvalue())


# write_atomic's temp files: ".<name>.<mkstemp's random characters>.tmp".
_TEMP_NAME = re.compile(rf"\..+\.[A-Za-z0-9_]+{re.escape(_TEMP_SUFFIX)}")


def remove_stale_temps(folder: Path, *, recursive: bool = False) -> int:
    """Remove the temp files of writes that died in `folder` (and below it, if `recursive`); returns how many.

    A temp file is stale when no live process holds its lock (a killed writer's lock is released by the kernel)
    and it is older than STALE_TEMP_AGE_S; a live writer's temp file is never touched.
    """
    removed = 0
    folders = [Path(folder)]
    while folders:
        current = folders.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if recursive and entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path))
            elif _TEMP_NAME.fullmatch(entry.name) and _remove_if_stale(Path(entry.path)):
                removed += 1
    return removed


def _remove_if_stale(path: Path) -> bool:
    """Remove `path` if it is a stale temp file; True when it was removed."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        if time.time() - os.fstat(fd).st_mtime < STALE_TEMP_AGE_S:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live writer holds it
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


# An image a user names (an inpainting source or mask, an FID reference) is decoded only below this many pixels:
# a header claiming more (a decompression bomb, or the wrong file) is refused before anything is decoded.
MAX_IMAGE_PIXELS = 64 * 2**20


class UnreadableImage(ValueError):
    """An image file that cannot be decoded, or one too large to decode; the message says which."""


def _header_only_open(path: Path | str) -> Image.Image:
    """Image.open without PIL's own bomb check, which refuses before the size can be named; decode_image checks
    the size itself before decoding anything."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        return Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def decode_image(path: Path | str, mode: str) -> np.ndarray:
    """The pixels of the image file at `path` converted to PIL `mode` ("RGB", "L") as uint8."""
    try:
        with _header_only_open(path) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise UnreadableImage(
                    f"its header claims {width}x{height} pixels, above the {MAX_IMAGE_PIXELS // 2**20} MP "
                    "the harness decodes"
                )
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                return np.asarray(image.convert(mode), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise  # a missing file is its own error to its callers, not an unreadable image
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UnreadableImage(str(err)) from None


# Numbers as the run's files and tables store them: one rule for every writer and reader (scorers, the score
# step, trackers, the report), so that NaN never reaches JSON and a missing metric reads the same everywhere.
def finite_or_none(value: object) -> float | None:
    """`value` as a float when it is a finite real number; None for NaN, infinities, None, NA, text and bools."""
    # Booleans are ints to Python but flags to us: a True is not the number 1 in a metric table.
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
