"""Extending the harness from outside: a plugin module registers a sampling loop and a scorer, and the real
command line runs them end to end, with no harness file edited."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import TINY, check, cli_env, run_cli
from PIL import Image

PLUGIN_DIR = Path(__file__).resolve().parent / "plugins"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("plugin")
    env = cli_env(home)
    env["GLIDE_EVAL_PLUGINS"] = "toy_plugin"
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_DIR), env["PYTHONPATH"]])
    args = ["+suite=couch", *TINY, "sampler.base_loop=toy_grey", "sampler.samples_per_prompt=2"]
    args += ["scorers=[toy_brightness]", "scorer.toy_brightness.scale=2"]
    check(run_cli([*args, "hydra.run.dir=run", "store.cache_dir=store", "logger=disabled"], cwd=home, env=env))
    return home / "run"


def test_the_plugin_loop_made_every_64px_sample(plugin_run):
    manifest = pd.read_parquet(plugin_run / "manifest.parquet")
    assert list(manifest["base_loop"]) == ["toy_grey", "toy_grey"]
    for path in manifest["path_64"]:
        with Image.open(path) as image:
            assert np.all(np.asarray(image) == 128)  # x0 = 0 in [-1, 1] is 127.5, rounded half to even


def test_the_plugin_loop_calls_the_model_once_per_sample(plugin_run):
    summary = json.loads((plugin_run / "summary.json").read_text())
    assert summary["run"]["sampling"]["base_forwards"] == 2


def test_the_plugin_scorer_scored_every_sample_with_its_typed_option(plugin_run):
    results = pd.read_parquet(plugin_run / "results.parquet")
    for path, value in zip(results["path_256"], results["toy_brightness.value"], strict=True):
        with Image.open(path) as image:
            assert value == pytest.approx(2 * np.asarray(image, dtype=np.float64).mean())
    summary = json.loads((plugin_run / "summary.json").read_text())
    assert summary["metrics"]["toy_brightness/mean"] == pytest.approx(results["toy_brightness.value"].mean())


def test_a_plugin_scorers_options_are_typed_at_composition(tmp_path):
    env = cli_env(tmp_path)
    env["GLIDE_EVAL_PLUGINS"] = "toy_plugin"
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_DIR), env["PYTHONPATH"]])
    args = ["+suite=couch", *TINY, "scorers=[toy_brightness]", "scorer.toy_brightness.scale=bright"]
    result = run_cli([*args, "hydra.run.dir=run"], cwd=tmp_path, env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: scorer.toy_brightness.scale:") and "'bright'" in line
    assert not (tmp_path / "run").exists()


def test_an_unknown_plugin_is_one_error_line(tmp_path):
    env = cli_env(tmp_path)
    env["GLIDE_EVAL_PLUGINS"] = "no_such_plugin"
    result = run_cli(["+suite=couch", *TINY, "hydra.run.dir=run"], cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: GLIDE_EVAL_PLUGINS: plugin module 'no_such_plugin' not found on the Python path"
    ]
    assert not (tmp_path / "run").exists()


def test_an_internal_error_is_a_bug_shown_with_its_traceback(tmp_path):
    env = cli_env(tmp_path)
    env["GLIDE_EVAL_PLUGINS"] = "toy_plugin"
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_DIR), env["PYTHONPATH"]])
    args = ["+suite=couch", *TINY, "sampler.base_loop=toy_broken", "sampler.samples_per_prompt=1", "scorers=[]"]
    result = run_cli([*args, "hydra.run.dir=run", "store.cache_dir=store", "logger=disabled"], cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "error: unexpected ValueError (a bug in glide-eval); the traceback follows" in result.stderr
    assert "Traceback" in result.stderr and "an internal error of this loop" in result.stderr
