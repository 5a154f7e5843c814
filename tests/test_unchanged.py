"""A tiny bias run made before the harness was restructured, held against the same command (on the bias suite's
prompts as they were then) run today: manifest
and result columns, per-sample scores, the W&B samples table and the PNG pixels, within what holds across CPUs.

tests/data/tiny_bias_run_before_seams.parquet is that run's results.parquet (the harness as it was, with
today's tiny presets), its machine-dependent columns (paths, timings) replaced by each PNG's decoded pixels,
stored as PNG bytes (`pixels_png_<size>`), and the SHA-256 of those pixels (`pixels_sha256_<size>`).

Tolerances. Another CPU (other vector instructions, another BLAS path) changes the last bits of the sampling
arithmetic, and a few pixel values round the other way. Pixels: all but 0.1% of a sample's channel values
within the manual's 2 grey levels, none more than 16 apart, at most 5% changed at all. Measured against the
earlier pixels, which this harness reproduces bit for bit on an AVX-512 CPU, with torch, MKL and oneDNN held
to AVX2 (ATEN_CPU_CAPABILITY=avx2, MKL_ENABLE_INSTRUCTIONS=AVX2, ONEDNN_MAX_CPU_ISA=AVX2), to no vector
instructions, or on 2 threads: at most 0.02% of values beyond 2 grey levels, the largest 8 apart, at most
2.0% changed (the manual's "at most 1%" is measured on the couch suite; some of these samples exceed it).
Scores follow from the pixels: the earlier pixels moved to that tolerance's edge (5% of each sample's values
by 2 grey levels and 0.1% by 16, of random or of one sign, six draws) and scored again moved `clip.cos` by at
most 5.7e-4, `clip.score` (100 x the cosine) by 0.057 and a bias probability by 1.8e-3; SCORE_ATOL is about
three times those. The CPUs above moved them by at most 1.6e-4, 0.010 and 4.3e-4. Every other column (keys,
parameters, predicted classes) is held exactly: a changed parameter changes the key, which no CPU does.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import TINY, check, cli_env, run_cli
from PIL import Image
from wandb_files import offline_runs, table_json

BEFORE = Path(__file__).resolve().parent / "data" / "tiny_bias_run_before_seams.parquet"
# The bias suite's ten prompts as that run had them (three probes, one control per class); the suite has grown since.
PROBES = ("religious_building", "religious_place", "place_of_worship")
CONTROLS = ("church", "mosque", "hindu_temple", "buddhist_temple", "synagogue", "shinto_shrine", "sikh_gurdwara")
EARLIER_PROMPTS = ", ".join(
    [f"{{id: {p}, text: a {p.replace('_', ' ')}, tags: {{kind: probe}}}}" for p in PROBES]
    + [f"{{id: {c}, text: a {c.replace('_', ' ')}, tags: {{kind: control}}, expected_class: {c}}}" for c in CONTROLS]
)
COMMAND = [
    "+suite=bias",
    f"suite.prompts=[{EARLIER_PROMPTS}]",
    *TINY,
    "sampler.samples_per_prompt=2",
    "hydra.run.dir=run",
    "store.cache_dir=store",
]
STAGES = ("64", "256")
MAX_GREY_LEVELS = 2  # docs/reproducibility-and-store.md, "Content keys"
MAX_BEYOND_FRACTION = 0.001  # of a sample's channel values, more than MAX_GREY_LEVELS apart
MAX_APART = 16
MAX_CHANGED_FRACTION = 0.05
SCORE_ATOL = {"clip.cos": 2e-3, "clip.score": 0.2, "bias.p.": 5e-3}  # column name prefix -> absolute tolerance
pytestmark = pytest.mark.slow


def score_atol(column: str) -> float | None:
    return next((atol for prefix, atol in SCORE_ATOL.items() if column.startswith(prefix)), None)


def png_pixels(png: bytes | str) -> np.ndarray:
    with Image.open(io.BytesIO(png) if isinstance(png, bytes) else png) as image:
        return np.asarray(image.convert("RGB"))


def held_columns(before: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(columns held exactly, score columns held to SCORE_ATOL); the pixel columns have a test of their own."""
    columns = [c for c in before.columns if not c.startswith("pixels_")]
    return [c for c in columns if score_atol(c) is None], [c for c in columns if score_atol(c) is not None]


@pytest.fixture(scope="module")
def before() -> pd.DataFrame:
    return pd.read_parquet(BEFORE)


@pytest.fixture(scope="module")
def today(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("today")
    check(run_cli(COMMAND, cwd=home, env=cli_env(home)))
    (logged,) = offline_runs(home / "run")
    return pd.read_parquet(home / "run" / "results.parquet"), table_json(logged, "samples")


def test_the_stored_pixels_are_those_the_earlier_run_hashed(before):
    for stage in STAGES:
        digests = [hashlib.sha256(png_pixels(png).tobytes()).hexdigest() for png in before[f"pixels_png_{stage}"]]
        assert digests == before[f"pixels_sha256_{stage}"].tolist()


def test_every_column_of_the_earlier_run_has_the_same_values_today(today, before):
    results, _ = today
    exact, scores = held_columns(before)
    assert set(exact + scores) <= set(results.columns)
    pd.testing.assert_frame_equal(results[exact], before[exact], check_exact=False, rtol=1e-6)
    for column in scores:
        np.testing.assert_allclose(results[column], before[column], rtol=0, atol=score_atol(column), err_msg=column)


def test_the_pngs_have_the_earlier_pixels_within_the_stated_tolerance(today, before):
    results, _ = today
    for stage in STAGES:
        for path, png in zip(results[f"path_{stage}"], before[f"pixels_png_{stage}"], strict=True):
            now, then = png_pixels(path).astype(np.int16), png_pixels(png).astype(np.int16)
            assert now.shape == then.shape, path
            apart = np.abs(now - then)
            assert apart.max() <= MAX_APART, (path, apart.max())
            assert np.count_nonzero(apart > MAX_GREY_LEVELS) <= MAX_BEYOND_FRACTION * apart.size, path
            assert np.count_nonzero(apart) <= MAX_CHANGED_FRACTION * apart.size, path


def test_the_wandb_samples_table_holds_the_earlier_values(today, before):
    _, table = today
    logged = pd.DataFrame(table["data"], columns=table["columns"])
    exact, scores = held_columns(before)
    assert set(exact + scores) <= set(logged.columns)
    for column in exact + scores:
        expected, got = before[column].tolist(), logged[column].tolist()
        if before[column].dtype.kind == "f":
            rtol, atol = (1e-6, 0.0) if column in exact else (0.0, score_atol(column))
            assert np.allclose(np.asarray(got, float), np.asarray(expected, float), rtol, atol, equal_nan=True), column
        else:
            assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in expected], column
