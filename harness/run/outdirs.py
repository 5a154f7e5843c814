"""Output directories a command may create, and undoing them when a job stops before its first result.

Hydra creates the job's directory before the job can check its config; on a bad value the job removes
what this command created (and only that), so nothing is left half-way and nothing of the user's is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

# The directories that did not exist when the command started, recorded by the Hydra callback; an
# environment variable so that launcher worker processes see it too.
_CREATED_ENV = "GLIDE_EVAL_NEW_DIRS"
_HYDRA_FILES = {".hydra", "harness.log", "multirun.yaml"}


# A run refuses to start with less free space than this where it writes: enough for a few hundred 256px samples
# with their W&B copies and a run's tables, so a full disk is found before the first sample, not at the 500th.
MIN_FREE_BYTES = 100 * 2**20
# The probe writes real data: creating an empty file (or a directory) still works on a full disk.
_PROBE_BYTES = 4096


def creatable_error(path: Path, what: str, *, min_free_bytes: int = MIN_FREE_BYTES) -> str | None:
    """None when `path` exists as a writable dir or can be created and has room; else the one-line reason."""
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    try:  # a probe file, removed at once: permission bits alone mislead root and special filesystems
        with tempfile.TemporaryFile(dir=ancestor, prefix=".write-check-") as probe:
            probe.write(b"\0" * _PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(ancestor).free
    except OSError as err:
        return f"{what}: {str(path)!r} cannot be created in {ancestor} ({err.strerror or err})"
    if free < min_free_bytes:
        return (
            f"{what}: {str(path)!r} is on a disk with {free / 2**20:.1f} MiB free; a run needs at least "
            f"{min_free_bytes / 2**20:.0f} MiB there"
        )
    return None


def record_new_dirs(path: Path) -> None:
    """Remember `path`, its ancestors and Hydra's files in it that do not exist yet (before Hydra creates them)."""
    new = [str(path.absolute() / name) for name in _HYDRA_FILES if not (path / name).exists()]
    current = path.absolute()
    while not current.exists():
        new.append(str(current))
        current = current.parent
    known = json.loads(os.environ.get(_CREATED_ENV, "[]"))
    os.environ[_CREATED_ENV] = json.dumps(sorted(set(known) | set(new)))


def remove_new_dirs(run_dir: Path) -> None:
    """Remove `run_dir` and its new ancestors if this command created them and they hold only Hydra's files."""
    created = set(json.loads(os.environ.get(_CREATED_ENV, "[]")))
    for name in _HYDRA_FILES:  # what Hydra added to a directory that existed before
        entry = run_dir.absolute() / name
        if str(entry) in created and entry.exists():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    current = run_dir.absolute()
    while _is_new(current, created) and current.is_dir():
        if any(p.name not in _HYDRA_FILES for p in current.iterdir()):
            return
        shutil.rmtree(current)
        current = current.parent


def _is_new(path: Path, created: set[str]) -> bool:
    """Created by this command: recorded as new, or inside a directory recorded as new."""
    return any(path == Path(entry) or Path(entry) in path.parents for entry in created)
