"""What a content key promises across environments: the same key on 1 and 2 torch threads gives pixels within
the tolerance docs/reproducibility-and-store.md states, and the manifest and summary.json record the environment
each run sampled in.

(Batch invariance is tested in test_cli.py: the same plan at batch sizes 1 and 4 gives identical PNG bytes.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import TINY, check, cli_env, run_cli
from PIL import Image

# docs/reproducibility-and-store.md, "Content keys": across thread counts a pixel channel differs by at most this
# many grey levels, in at most this fraction of a sample's channel values.
MAX_GREY_LEVELS = 2
MAX_CHANGED_FRACTION = 0.01


def run(tmp_path: Path, threads: int) -> pd.DataFrame:
    env = cli_env(tmp_path / "home") | {"OMP_NUM_THREADS": str(threads)}
    cwd = tmp_path / f"threads{threads}"
    cwd.mkdir()
    args = ["+suite=couch", *TINY, "scorers=[]", "logger=disabled", "sampler.samples_per_prompt=2"]
    check(run_cli([*args, "hydra.run.dir=run", "store.cache_dir=store"], cwd=cwd, env=env))
    frame = pd.read_parquet(cwd / "run" / "manifest.parquet")
    frame.attrs["summary"] = json.loads((cwd / "run" / "summary.json").read_text())
    return frame


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(np.int16)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, pd.DataFrame]:
    root = tmp_path_factory.mktemp("threads")
    return {threads: run(root, threads) for threads in (1, 2)}


def test_one_and_two_threads_give_the_same_keys_and_pixels_within_the_stated_tolerance(runs):
    one, two = runs[1].set_index("key"), runs[2].set_index("key")
    assert sorted(one.index) == sorted(two.index)
    for key in one.index:
        for column in ("path_64", "path_256"):
            a, b = pixels(one.loc[key, column]), pixels(two.loc[key, column])
            diff = np.abs(a - b)
            assert diff.max() <= MAX_GREY_LEVELS, (key, column, diff.max())
            assert np.count_nonzero(diff) <= MAX_CHANGED_FRACTION * diff.size, (key, column, np.count_nonzero(diff))


def test_the_manifest_and_summary_record_the_environment_of_the_run(runs):
    for threads, frame in runs.items():
        expected = {"torch_version": torch.__version__, "torch_threads": threads, "dtype": "fp32"}
        for column, value in expected.items():
            assert set(frame[column]) == {value}
        assert frame["device_name"].map(bool).all()
        environment = frame.attrs["summary"]["run"]["environment"]
        assert environment == {**expected, "device_name": frame["device_name"].iloc[0]}
