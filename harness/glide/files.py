"""Files the model package writes itself (downloaded checkpoints, the fingerprint cache): whole, with the umask.

The harness's own writer (harness/io.py) adds locks and disk-full messages; this package must stand alone.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the kernel reports it (/proc, Linux 4.7+)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # os.umask can only be read by setting it: set and restore under a lock, so no thread of ours sees the 0.
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def publish(tmp: Path, path: Path) -> None:
    """Give the finished temp file `tmp` the mode open() would have (mkstemp makes it 0600), then rename it."""
    os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, path)


def write_file_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish(Path(name), path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
