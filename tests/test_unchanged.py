"""A tiny bias run made before the harness was restructured, held against the same command run today:
manifest and result columns, per-sample scores, the W&B samples table and the PNG pixels are all unchanged.

tests/data/tiny_bias_run_before_seams.parquet is that run's results.parquet (the harness as it was, with
today's tiny presets), its machine-dependent columns (paths, timings) replaced by the SHA-256 of each PNG's
decoded pixels.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import TINY, check, cli_env, run_cli
from PIL import Image
from wandb_files import offline_runs, table_json

BEFORE = Path(__file__).resolve().parent / "data" / "tiny_bias_run_before_seams.parquet"
COMMAND = ["+suite=bias", *TINY, "sampler.samples_per_prompt=2", "hydra.run.dir=run", "store.cache_dir=store"]
pytestmark = pytest.mark.slow


def pixels_sha256(path: str) -> str:
    with Image.open(path) as image:
        return hashlib.sha256(np.asarray(image.convert("RGB")).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def today(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("today")
    check(run_cli(COMMAND, cwd=home, env=cli_env(home)))
    results = pd.read_parquet(home / "run" / "results.parquet")
    for stage in ("64", "256"):
        results[f"pixels_sha256_{stage}"] = [pixels_sha256(p) for p in results[f"path_{stage}"]]
    (logged,) = offline_runs(home / "run")
    return results, table_json(logged, "samples")


def test_every_column_of_the_earlier_run_has_the_same_values_today(today):
    results, _ = today
    before = pd.read_parquet(BEFORE)
    assert set(before.columns) <= set(results.columns)
    pd.testing.assert_frame_equal(results[before.columns], before, check_exact=False, rtol=1e-6)


def test_the_pngs_have_the_same_pixels(today):
    results, _ = today
    before = pd.read_parquet(BEFORE)
    for stage in ("64", "256"):
        assert results[f"pixels_sha256_{stage}"].tolist() == before[f"pixels_sha256_{stage}"].tolist()


def test_the_wandb_samples_table_holds_the_earlier_values(today):
    _, table = today
    before = pd.read_parquet(BEFORE)
    logged = pd.DataFrame(table["data"], columns=table["columns"])
    shared = [c for c in before.columns if not c.startswith("pixels_sha256")]
    assert set(shared) <= set(logged.columns)
    for column in shared:
        expected, got = before[column].tolist(), logged[column].tolist()
        if before[column].dtype.kind == "f":
            assert np.allclose(np.asarray(got, float), np.asarray(expected, float), rtol=1e-6, equal_nan=True), column
        else:
            assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in expected], column
