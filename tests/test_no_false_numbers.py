"""Numbers that would mislead are flagged or never logged twice: a guided sample that saturates is marked in
the results and noted once, and a rerun of a finished job adds no second tracker run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import TINY, check, cli_env, run_cli
from PIL import Image
from wandb_files import offline_runs

from harness.run.runner import saturated

pytestmark = pytest.mark.slow

QUICK = [*TINY, "sampler.samples_per_prompt=2", "store.cache_dir=store"]


def all_at_the_bounds(path: str) -> bool:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return bool(((pixels == 0) | (pixels == 255)).all())


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (np.zeros((4, 4, 3)), True),  # what a NaN becomes in the final uint8 cast
        (np.indices((4, 4, 3)).sum(0) % 2 * 255, True),  # every value at a clip bound
        (np.full((4, 4, 3), 254), False),
        (np.pad(np.full((1, 1, 3), 128), ((0, 3), (0, 3), (0, 0))), False),  # one grey pixel is a picture
    ],
)
def test_an_image_is_saturated_when_every_value_is_0_or_255(tmp_path, pixels, expected):
    path = tmp_path / "x.png"
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    assert saturated(path) is expected


def test_a_guided_sample_that_saturates_is_flagged_and_noted_once(tmp_path):
    args = ["+suite=couch", *QUICK, "scorers=[clip]", "sampler.guidance=clip", "sampler.guidance_scale=1e30"]
    check(run_cli([*args, "hydra.run.dir=run"], cwd=tmp_path, env=cli_env(tmp_path / "home")))
    results = pd.read_parquet(tmp_path / "run" / "results.parquet")
    expected = [all_at_the_bounds(p) for p in results["path_64"]]
    assert all(expected)  # the oracle: guidance this strong leaves every pixel at a bound
    assert results["saturated"].tolist() == expected
    notes = json.loads((tmp_path / "run" / "summary.json").read_text())["notes"]
    assert [n for n in notes if "saturated" in n] == [
        f"{len(results)} of {len(results)} samples are saturated (every 64 px pixel at 0 or 255: guidance far too "
        "strong, or a NaN while sampling); column `saturated` marks them, and their scores describe no picture"
    ]


def test_ordinary_samples_are_not_flagged(tmp_path):
    check(run_cli(["+suite=couch", *QUICK, "scorers=[]", "hydra.run.dir=run"], cwd=tmp_path, env=cli_env(tmp_path)))
    results = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert results["saturated"].tolist() == [all_at_the_bounds(p) for p in results["path_64"]] == [False, False]
    notes = json.loads((tmp_path / "run" / "summary.json").read_text())["notes"]
    assert not [n for n in notes if "saturated" in n]


def test_a_rerun_with_the_same_results_adds_no_tracker_run_and_new_results_do(tmp_path):
    env = cli_env(tmp_path / "home")
    command = ["+suite=couch", *QUICK, "hydra.run.dir=run"]
    for _ in range(2):  # the run, then its rerun
        check(run_cli([*command, "scorers=[clip]"], cwd=tmp_path, env=env))
    assert len(offline_runs(tmp_path / "run")) == 1
    check(run_cli([*command, "scorers=[clip,quality]"], cwd=tmp_path, env=env))
    assert len(offline_runs(tmp_path / "run")) == 2


def test_a_tracker_dir_that_cannot_be_created_stops_the_run_before_sampling(tmp_path):
    (tmp_path / "blocker").write_text("a file where W&B's directory is asked for\n")
    result = run_cli(
        ["+suite=couch", *QUICK, "scorers=[]", "hydra.run.dir=run", f"logger.dir={tmp_path / 'blocker' / 'wandb'}"],
        cwd=tmp_path,
        env=cli_env(tmp_path / "home"),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: logger.dir")
    assert not (tmp_path / "run").exists() and not (tmp_path / "store").exists()
    assert not list(Path(tmp_path / "home").rglob("offline-run-*"))
