"""The sample store: atomic writes that leave no temp files, PNG metadata that round-trips, and concurrent
writers of the same keys that never leave a file a reader cannot decode.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.store import SampleStore, read_png, write_atomic, write_json, write_parquet

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
    meta = {"prompt": 'a red cube, "quoted" é', "seed": 7, "time_s": 0.125, "base_key": "ff" * 16}
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
