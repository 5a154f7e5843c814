"""The writability probe of output directories: a real write, and a free-space minimum checked before any work."""

from __future__ import annotations

import shutil

from harness.run.outdirs import MIN_FREE_BYTES, creatable_error


def test_a_writable_directory_with_room_passes_and_the_probe_leaves_nothing(tmp_path):
    assert shutil.disk_usage(tmp_path).free >= MIN_FREE_BYTES  # the premise: this test machine has room
    assert creatable_error(tmp_path / "new" / "run", "hydra.run.dir") is None
    assert list(tmp_path.iterdir()) == []


def test_a_disk_with_less_free_space_than_the_minimum_is_refused_naming_both(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    needed = free + 2**40  # more than this disk has free
    error = creatable_error(tmp_path / "run", "store.cache_dir", min_free_bytes=needed)
    assert error is not None and error.startswith("store.cache_dir: ")
    assert repr(str(tmp_path / "run")) in error and f"{needed / 2**20:.0f} MiB" in error
    assert list(tmp_path.iterdir()) == []


def test_a_path_under_a_regular_file_cannot_be_created(tmp_path):
    (tmp_path / "blocker").write_text("a file")
    error = creatable_error(tmp_path / "blocker" / "run", "hydra.run.dir")
    assert error is not None and "blocker" in error and "hydra.run.dir" in error
