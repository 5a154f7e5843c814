"""A tracker added from outside the harness (tests/plugins/csv_tracker): `logger=csv` on the real command line
writes a run's results, metrics and tables as CSV files, read back here against the run's own parquet files."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import TINY, check, cli_env, run_cli

from harness.tracking import TRACKERS, register_tracker

CSV_PLUGIN_DIR = Path(__file__).resolve().parent / "plugins" / "csv_tracker"
pytestmark = pytest.mark.slow
RUN = ["+suite=novel_pairs_pilot", *TINY, "sampler.samples_per_prompt=1", "scorers=[clip]", "logger=csv"]


def plugin_env(home: Path) -> dict[str, str]:
    env = cli_env(home)
    env["GLIDE_EVAL_PLUGINS"] = "csv_tracker_plugin"
    env["PYTHONPATH"] = os.pathsep.join([str(CSV_PLUGIN_DIR), env["PYTHONPATH"]])
    return env


def assert_csv_holds(path: Path, frame: pd.DataFrame) -> None:
    """The CSV file has the frame's columns in order and its every value: numbers to the last bit, lists as
    JSON, missing values as empty cells, anything else as its text."""
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(text.columns) == [str(column) for column in frame.columns]
    assert len(text) == len(frame) > 0
    for column in frame.columns:
        expected, cells = frame[column], text[str(column)]
        if pd.api.types.is_bool_dtype(expected):
            assert list(cells) == [str(value) for value in expected], column
        elif pd.api.types.is_numeric_dtype(expected):
            values = pd.to_numeric(cells.replace("", np.nan))
            np.testing.assert_array_equal(values.to_numpy(float), expected.to_numpy(float), err_msg=column)
        else:
            for value, cell in zip(expected, cells, strict=True):
                if isinstance(value, (list, np.ndarray)):
                    assert json.loads(cell) == list(value), column
                elif value is None or (isinstance(value, float) and math.isnan(value)):
                    assert cell == "", column
                else:
                    assert cell == str(value), column


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("csv_run")
    check(run_cli([*RUN, "hydra.run.dir=run", "store.cache_dir=store"], cwd=home, env=plugin_env(home)))
    return home / "run"


def test_the_csv_tracker_writes_every_result_of_the_run(csv_run):
    results = pd.read_parquet(csv_run / "results.parquet")
    assert results["objects"].map(len).min() == 2  # the suite's objects: list cells are part of what is checked
    assert_csv_holds(csv_run / "csv" / "samples.csv", results)


def test_the_csv_tracker_writes_the_summary_metrics(csv_run):
    metrics = json.loads((csv_run / "summary.json").read_text())["metrics"]
    written = pd.read_csv(csv_run / "csv" / "metrics.csv")
    assert list(written["name"]) == list(metrics)
    for name, value in zip(written["name"], written["value"], strict=True):
        assert (math.isnan(value) and metrics[name] is None) or value == metrics[name], name


def test_the_csv_tracker_writes_each_scorer_table(csv_run):
    tables = json.loads((csv_run / "summary.json").read_text())["tables"]
    assert tables
    for name, file in tables.items():
        assert_csv_holds(csv_run / "csv" / (name.replace("/", "__") + ".csv"), pd.read_parquet(csv_run / file))


def test_the_csv_tracker_writes_a_sweeps_summary_table(tmp_path):
    sweep = ["-m", *RUN, "sampler.guidance_scale=1,3", "hydra.sweep.dir=sweep", "store.cache_dir=store"]
    check(run_cli(sweep, cwd=tmp_path, env=plugin_env(tmp_path)))
    summary = pd.read_parquet(tmp_path / "sweep" / "sweep_summary.parquet")
    assert len(summary) == 2
    assert_csv_holds(tmp_path / "sweep" / "csv" / "sweep_summary.csv", summary)
    for job in ("0", "1"):
        results = pd.read_parquet(tmp_path / "sweep" / job / "results.parquet")
        assert_csv_holds(tmp_path / "sweep" / job / "csv" / "samples.csv", results)


def test_a_bad_csv_tracker_setting_is_one_error_line(tmp_path):
    result = run_cli([*RUN, "logger.dir=../elsewhere", "hydra.run.dir=run"], cwd=tmp_path, env=plugin_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: logger.dir: '../elsewhere' must be a relative folder inside the run dir, without '..'"
    ]
    assert not (tmp_path / "run").exists() and not (tmp_path / "elsewhere").exists()


def test_logger_csv_is_unknown_without_the_plugin(tmp_path):
    result = run_cli([*RUN, "hydra.run.dir=run"], cwd=tmp_path, env=cli_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: unknown logger 'csv'; available: disabled, wandb"]
    assert not (tmp_path / "run").exists()


@dataclass
class _NoTrackerField:
    project: str = "x"


def test_a_tracker_config_without_its_tracker_field_is_refused():
    with pytest.raises(TypeError, match=r"tracker 'nameless'.*`tracker: str = 'nameless'`"):
        register_tracker("nameless", _NoTrackerField, lambda cfg, **kwargs: None)
    assert "nameless" not in TRACKERS
