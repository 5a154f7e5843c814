"""The sample store and its writes: atomic files with the user's umask, PNG metadata that round-trips, PNG bytes
that do not depend on when they were made, concurrent writers that never leave a file a reader cannot decode,
key claims that let two runs share a store without computing a sample twice, and a full disk as one error.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import stat
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.errors import USAGE_ERRORS
from harness.io import STALE_TEMP_AGE_S, DiskFullError, write_all, write_atomic, write_json, write_parquet
from harness.run.store import SampleStore, read_png

KEY = "0123456789abcdef0123456789abcdef"


def image(seed: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------- atomic writes


def test_write_atomic_creates_parents_and_leaves_only_the_file(tmp_path):
    target = tmp_path / "a" / "b" / "data.bin"
    write_atomic(target, b"first")
    write_atomic(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert all_files(tmp_path) == ["a/b/data.bin"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "data.bin"
    write_atomic(target, b"complete")
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # fails after the temp file was opened
    assert target.read_bytes() == b"complete"
    assert all_files(tmp_path) == ["data.bin"]


def test_write_json_and_parquet_read_back(tmp_path):
    write_json(tmp_path / "s.json", {"metrics": {"clip/score_mean": 0.25, "fid/fid": None}})
    frame = pd.DataFrame({"key": ["a", "b"], "seed": [0, 1], "clip.score": [0.5, float("nan")]})
    write_parquet(tmp_path / "r.parquet", frame)
    assert json.loads((tmp_path / "s.json").read_text()) == {"metrics": {"clip/score_mean": 0.25, "fid/fid": None}}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r.parquet"), frame)
    assert all_files(tmp_path) == ["r.parquet", "s.json"]


def test_write_json_refuses_nan_instead_of_writing_invalid_json(tmp_path):
    with pytest.raises(ValueError):
        write_json(tmp_path / "s.json", {"x": float("nan")})
    assert all_files(tmp_path) == []


# ---------------------------------------------------------------- PNGs with metadata


def test_put_writes_an_rgb_png_at_stage_prefix_key(tmp_path):
    store = SampleStore(tmp_path)
    path = store.put("upsample", KEY, image(0, 256), {"seed": 3})
    assert path == tmp_path.resolve() / "upsample" / KEY[:2] / f"{KEY}.png"
    with Image.open(path) as png:
        assert (png.format, png.mode, png.size) == ("PNG", "RGB", (256, 256))
        np.testing.assert_array_equal(np.asarray(png), image(0, 256))


def test_pixels_and_metadata_round_trip(tmp_path):
    store = SampleStore(tmp_path)
    meta = {"prompt": 'a red cube, "quoted" é', "seed": 7, "base_key": "ff" * 16}
    store.put("base", KEY, image(1), meta)
    pixels, read_meta = store.get("base", KEY)
    np.testing.assert_array_equal(pixels, image(1))
    assert read_meta == {"key": KEY, **meta}
    assert store.meta("base", KEY) == read_meta
    assert read_png(store.path("base", KEY))[1] == read_meta


def test_has_knows_each_stage_apart(tmp_path):
    store = SampleStore(tmp_path)
    store.put("base", KEY, image(2), {})
    assert store.has("base", KEY) and not store.has("upsample", KEY)
    assert not store.has("base", "ff" + KEY[2:])


def test_a_png_without_metadata_reads_as_empty_metadata(tmp_path):
    path = tmp_path / "plain.png"
    Image.fromarray(image(3)).save(path)
    pixels, meta = read_png(path)
    np.testing.assert_array_equal(pixels, image(3))
    assert meta == {}


# ---------------------------------------------------------------- concurrent writers


N_KEYS, N_ROUNDS, SIZE = 6, 25, 128


def keys() -> list[str]:
    return [f"{i:02x}" + "c" * 30 for i in range(N_KEYS)]


def pattern(writer: int, round_: int, key_index: int) -> np.ndarray:
    """What writer `writer` puts under key `key_index` in round `round_`: noise, so PNGs are large and slow."""
    return image(writer * 1_000_000 + round_ * 1_000 + key_index, SIZE)


def write_rounds(root: str, writer: int, start: multiprocessing.Event) -> None:
    store = SampleStore(Path(root))
    start.wait()
    for round_ in range(N_ROUNDS):
        for i, key in enumerate(keys()):
            store.put("upsample", key, pattern(writer, round_, i), {"writer": writer, "round": round_})


def read_until_done(root: str, start: multiprocessing.Event, done: multiprocessing.Event, out) -> None:
    """Read every key over and over while the writers run; report each read that fails or does not match the
    pixels its own metadata promises."""
    store, reads, failures = SampleStore(Path(root)), 0, []
    start.wait()
    while not done.is_set():
        for i, key in enumerate(keys()):
            if not store.has("upsample", key):
                continue
            try:
                pixels, meta = store.get("upsample", key)
                if not np.array_equal(pixels, pattern(meta["writer"], meta["round"], i)):
                    failures.append(f"{key}: pixels of another write than its metadata")
            except Exception as err:  # any failure to read a complete file is what this test looks for
                failures.append(f"{key}: {type(err).__name__}: {err}")
            reads += 1
    out.put((reads, failures))


def test_two_writers_of_the_same_keys_never_leave_a_file_a_reader_cannot_decode(tmp_path):
    context = multiprocessing.get_context("spawn")
    start, done, out = context.Event(), context.Event(), context.Queue()
    writers = [context.Process(target=write_rounds, args=(str(tmp_path), w, start)) for w in (1, 2)]
    reader = context.Process(target=read_until_done, args=(str(tmp_path), start, done, out))
    for process in [*writers, reader]:
        process.start()
    start.set()
    for process in writers:
        process.join(timeout=240)
    done.set()
    reads, failures = out.get(timeout=240)
    reader.join(timeout=60)
    assert [p.exitcode for p in [*writers, reader]] == [0, 0, 0]
    assert failures == [] and reads > N_KEYS
    assert all_files(tmp_path) == sorted(f"upsample/{key[:2]}/{key}.png" for key in keys())
    store = SampleStore(tmp_path)
    for i, key in enumerate(keys()):  # the last write of either writer, whole
        pixels, meta = store.get("upsample", key)
        assert meta["round"] == N_ROUNDS - 1
        np.testing.assert_array_equal(pixels, pattern(meta["writer"], N_ROUNDS - 1, i))


def test_the_store_creates_no_files_until_something_is_put(tmp_path):
    store = SampleStore(tmp_path / "store")
    assert not store.has("base", KEY)
    assert not os.path.exists(tmp_path / "store")


# ---------------------------------------------------------------- modes, timings, stale files, claims, full disk


@pytest.fixture
def umask():
    """Set the process umask for one test; the old one is restored after."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def test_under_umask_022_a_stored_png_and_its_timing_are_readable_by_group_and_others(tmp_path, umask):
    umask(0o022)
    store = SampleStore(tmp_path)
    path = store.put("base", KEY, image(4), {}, seconds=0.5)
    for written in (path, path.with_suffix(".timing.json")):
        assert stat.S_IMODE(written.stat().st_mode) == 0o644, written


def test_under_umask_077_a_stored_png_is_readable_by_its_owner_only(tmp_path, umask):
    umask(0o077)
    path = SampleStore(tmp_path).put("base", KEY, image(4), {})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_png_bytes_do_not_hold_the_compute_time(tmp_path):
    slow, fast = SampleStore(tmp_path / "a"), SampleStore(tmp_path / "b")
    slow.put("base", KEY, image(5), {"seed": 1}, seconds=9.75)
    fast.put("base", KEY, image(5), {"seed": 1}, seconds=0.01)
    assert slow.path("base", KEY).read_bytes() == fast.path("base", KEY).read_bytes()
    assert (slow.seconds("base", KEY), fast.seconds("base", KEY)) == (9.75, 0.01)
    assert "time_s" not in slow.meta("base", KEY)


def test_a_sample_stored_without_a_time_reads_as_none(tmp_path):
    store = SampleStore(tmp_path)
    store.put("upsample", KEY, image(6), {})
    assert store.seconds("upsample", KEY) is None


def make_temp(folder: Path, name: str, age_s: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"half a png")
    past = time.time() - age_s
    os.utime(path, (past, past))
    return path


def test_opening_a_store_removes_old_unheld_temp_files_and_keeps_fresh_or_held_ones(tmp_path):
    folder = tmp_path / "base" / KEY[:2]
    old = make_temp(folder, f".{KEY}.png.k1ll3d00.tmp", age_s=STALE_TEMP_AGE_S + 60)
    fresh = make_temp(folder, f".{KEY}.png.wr1t1ng0.tmp", age_s=0)
    held = make_temp(folder, f".{KEY}.png.h0ld1ng0.tmp", age_s=STALE_TEMP_AGE_S + 60)
    not_ours = make_temp(folder, "notes.tmp", age_s=STALE_TEMP_AGE_S + 60)
    with held.open("rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # a live writer (this process) holds it
        SampleStore(tmp_path)
    assert (old.exists(), fresh.exists(), held.exists(), not_ours.exists()) == (False, True, True, True)


def test_the_first_write_into_a_folder_removes_the_stale_temp_files_there(tmp_path):
    make_temp(tmp_path, ".summary.json.abc123xy.tmp", age_s=STALE_TEMP_AGE_S + 60)
    make_temp(tmp_path, ".results.parquet.abc123xy.tmp", age_s=STALE_TEMP_AGE_S + 60)
    fresh = make_temp(tmp_path, ".manifest.parquet.wr1t1ng0.tmp", age_s=0)
    write_json(tmp_path / "summary.json", {"ok": True})
    assert all_files(tmp_path) == [fresh.name, "summary.json"]


def test_a_claim_yields_the_missing_keys_and_leaves_no_lock_file(tmp_path):
    store = SampleStore(tmp_path)
    other = "ab" + KEY[2:]
    store.put("base", KEY, image(7), {})
    with store.claim("base", [KEY, other]) as missing:
        assert missing == {other}
        assert store.path("base", other).with_suffix(".lock").is_file()
    assert all_files(tmp_path) == [f"base/{KEY[:2]}/{KEY}.png"]


def hold_claim(root: str, key: str, held: multiprocessing.Event, release: multiprocessing.Event) -> None:
    store = SampleStore(Path(root))
    with store.claim("base", [key]) as missing:
        assert missing == {key}
        held.set()
        release.wait(60)
        store.put("base", key, image(8), {"by": "holder"})


def test_a_claim_waits_for_the_run_holding_the_key_then_finds_its_sample(tmp_path):
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    holder = context.Process(target=hold_claim, args=(str(tmp_path), KEY, held, release))
    holder.start()
    assert held.wait(60)
    store = SampleStore(tmp_path)
    assert store.path("base", KEY).with_suffix(".lock").is_file()  # held: opening the store keeps it
    release.set()  # the holder puts its sample, then releases; the claim below can only start after that
    with store.claim("base", [KEY]) as missing:
        assert missing == set()
    holder.join(60)
    assert holder.exitcode == 0 and store.meta("base", KEY)["by"] == "holder"


def test_a_lock_file_of_a_killed_run_is_removed_on_open_and_does_not_block_a_claim(tmp_path):
    lock = tmp_path / "base" / KEY[:2] / f"{KEY}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_bytes(b"")
    assert not SampleStore(tmp_path).path("base", KEY).with_suffix(".lock").exists()
    lock.write_bytes(b"")  # left after the store was opened
    with SampleStore(tmp_path).claim("base", [KEY]) as missing:
        assert missing == {KEY}


def test_a_full_disk_is_one_error_naming_the_file_and_the_space_needed():
    data = b"x" * 3 * 2**20
    with open("/dev/full", "wb", buffering=0) as full, pytest.raises(DiskFullError) as caught:
        write_all(full.fileno(), data, path=Path("/dev/full"))
    message = str(caught.value)
    assert "\n" not in message and "'/dev/full'" in message and "3.0 MiB" in message
    assert caught.value.needed == len(data) and isinstance(caught.value, USAGE_ERRORS)  # one line, exit 2


def test_a_failed_write_into_the_store_leaves_neither_the_png_nor_a_temp_file(tmp_path):
    store = SampleStore(tmp_path)
    with pytest.raises(TypeError):
        store.put("base", KEY, np.zeros((8, 8, 5), dtype=np.uint8), {})  # not RGB: fails while encoding
    store.put("base", KEY, image(9), {})
    with pytest.raises(TypeError):
        write_atomic(store.path("base", KEY), None)  # fails after the temp file was made
    assert all_files(tmp_path) == [f"base/{KEY[:2]}/{KEY}.png"]
    np.testing.assert_array_equal(store.get("base", KEY)[0], image(9))
