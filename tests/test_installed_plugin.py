"""An installed plugin: the CSV tracker's distribution (tests/plugins/csv_tracker) installed with pip into a fresh
venv is found through its `glide_eval.plugins` entry point, without $GLIDE_EVAL_PLUGINS, in the command's process
and in a launcher's workers; an entry point whose module cannot be imported stops the command with one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import REPO, TINY, check, cli_env
from linked_venv import linked_venv
from test_tracker_plugin import CSV_PLUGIN_DIR, assert_csv_holds

pytestmark = pytest.mark.slow
RUN = ["+suite=novel_pairs_pilot", *TINY, "sampler.samples_per_prompt=1", "scorers=[clip]", "logger=csv"]


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the plugin's distribution (built from a copy: pip writes nothing into the tests)."""
    root = tmp_path_factory.mktemp("installed_plugin")
    source = shutil.copytree(CSV_PLUGIN_DIR, root / "csv_tracker", ignore=shutil.ignore_patterns("__pycache__"))
    python = linked_venv(root / "venv")
    install = ["-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", str(source)]
    check(subprocess.run([str(python), *install], capture_output=True, text=True, timeout=600))
    return python


def plain_env(home: Path) -> dict[str, str]:
    """The CLI's environment with the harness from the checkout and no plugin named anywhere."""
    env = cli_env(home)
    env.pop("GLIDE_EVAL_PLUGINS", None)
    env["PYTHONPATH"] = str(REPO)
    return env


def run_python(python: Path, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_plugin_is_installed_in_the_venv_with_its_entry_point(plugin_python, tmp_path):
    code = (
        "from importlib.metadata import entry_points; import csv_tracker_plugin as m; "
        "print([(e.name, e.value) for e in entry_points(group='glide_eval.plugins')]); print(m.__file__)"
    )
    listed, where = check(run_python(plugin_python, ["-c", code], tmp_path, plain_env(tmp_path))).stdout.splitlines()
    assert listed == "[('csv', 'csv_tracker_plugin')]"
    assert Path(where).is_relative_to(plugin_python.parents[1])


def test_the_installed_tracker_runs_without_naming_the_plugin(plugin_python, tmp_path):
    args = ["-m", "harness", *RUN, "hydra.run.dir=run", "store.cache_dir=store"]
    check(run_python(plugin_python, args, tmp_path, plain_env(tmp_path)))
    results = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert_csv_holds(tmp_path / "run" / "csv" / "samples.csv", results)


def test_the_installed_tracker_runs_in_a_launchers_worker_processes(plugin_python, tmp_path):
    sweep = ["-m", "harness", "-m", *RUN, "sampler.guidance_scale=1,3", "hydra/launcher=joblib"]
    sweep += ["hydra.launcher.n_jobs=2", "hydra.sweep.dir=sweep", "store.cache_dir=store"]
    check(run_python(plugin_python, sweep, tmp_path, plain_env(tmp_path)))
    for job in ("0", "1"):
        results = pd.read_parquet(tmp_path / "sweep" / job / "results.parquet")
        assert_csv_holds(tmp_path / "sweep" / job / "csv" / "samples.csv", results)
    summary = pd.read_parquet(tmp_path / "sweep" / "sweep_summary.parquet")
    assert_csv_holds(tmp_path / "sweep" / "csv" / "sweep_summary.csv", summary)


def test_a_broken_entry_point_is_one_error_line(tmp_path):
    """A distribution as pip leaves one (a .dist-info folder on the path) whose entry point names no module."""
    info = tmp_path / "site" / "broken_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[glide_eval.plugins]\nbroken = no_such_plugin_module\n")
    env = plain_env(tmp_path)
    env["PYTHONPATH"] = f"{tmp_path / 'site'}:{REPO}"
    result = run_python(Path(sys.executable), ["-m", "harness", *RUN, "hydra.run.dir=run"], tmp_path, env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: entry point 'broken' of broken-plugin (glide_eval.plugins = 'no_such_plugin_module'): its module "
        "cannot be imported (No module named 'no_such_plugin_module'); reinstall or uninstall that plugin"
    ]
    assert not (tmp_path / "run").exists()
