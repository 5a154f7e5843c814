"""The package finds its configs (conf/, experiments/) however it is installed: a wheel built from a copy of the
sources and installed without -e, an editable install of that copy, and the copy run in place on PYTHONPATH,
each in a fresh venv, each running the README's main job from a directory that has nothing to do with the sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cli_helpers import BASE_STEPS, CONF, EXPERIMENTS, REPO, UPSAMPLE_STEPS, cli_env
from linked_venv import linked_venv

pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\nexit {result.returncode}\n{result.stderr[-4000:]}"
    return result


SOURCES = ("harness", "conf", "experiments", "hydra_plugins", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sources a user gets from a clean clone (a build or an install writes beside them)."""
    copy = tmp_path_factory.mktemp("source") / "glide-eval"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, copy / name)
    return copy


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(root), "."], source)
    (built,) = root.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (torch and the other dependencies from the interpreter running the tests) with only the
    wheel installed."""
    venv = tmp_path_factory.mktemp("venv")
    python = linked_venv(venv)
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], venv)
    return python


@pytest.fixture(scope="module")
def editable_python(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the copy installed editable (`pip install -e`), as the README's set-up does."""
    venv = tmp_path_factory.mktemp("editable")
    python = linked_venv(venv)
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", str(source)], venv)
    return python


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with nothing of the project installed: the copy runs from PYTHONPATH."""
    return linked_venv(tmp_path_factory.mktemp("bare"))


def installed_env(home: Path) -> dict[str, str]:
    """The CLI's test environment without the sources on PYTHONPATH: the installed package must be used."""
    env = cli_env(home)
    env.pop("PYTHONPATH")
    return env


def test_the_wheel_holds_every_config_file(wheel):
    expected = {f"harness/conf/{p.relative_to(CONF)}" for p in CONF.rglob("*.yaml")}
    expected |= {f"harness/experiments/{p.name}" for p in EXPERIMENTS.glob("*.yaml")}
    with zipfile.ZipFile(wheel) as archive:
        held = {name for name in archive.namelist() if name.startswith(("harness/conf/", "harness/experiments/"))}
    assert expected and held == expected


def test_the_installed_package_is_the_one_that_runs(venv_python, tmp_path):
    where = run([str(venv_python), "-c", "import harness; print(harness.__file__)"], tmp_path, installed_env(tmp_path))
    assert Path(where.stdout.strip()).is_relative_to(venv_python.parents[1])


def test_the_installed_command_lists_the_suites_from_anywhere(venv_python, tmp_path):
    result = subprocess.run(
        [str(venv_python), "-m", "harness"], cwd=tmp_path, env=installed_env(tmp_path), capture_output=True, text=True
    )
    assert result.returncode == 2
    assert all(p.stem in result.stderr for p in (CONF / "suite").glob("*.yaml"))


def test_the_main_job_runs_from_an_unrelated_directory_with_the_installed_wheel(venv_python, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    steps = [f"sampler.base_steps={BASE_STEPS}", f"sampler.upsample_steps=ddim{UPSAMPLE_STEPS}"]
    seeds = ["sampler.samples_per_prompt=1"]
    run([str(venv_python), "-m", "harness", "+suite=bias", "model=tiny", *steps, *seeds], work, installed_env(tmp_path))
    (run_dir,) = (work / "outputs" / "runs").iterdir()
    prompts = yaml.safe_load((CONF / "suite" / "bias.yaml").read_text())["prompts"]
    manifest = pd.read_parquet(run_dir / "manifest.parquet")
    assert len(manifest) == len(prompts)  # one seed per prompt
    assert set(manifest["base_steps"]) == {str(BASE_STEPS)}
    assert len(pd.read_parquet(run_dir / "results.parquet")) == len(manifest)
    assert json.loads((run_dir / "summary.json").read_text())["run"]["suite"] == "bias"
    assert all(os.path.isfile(path) for path in [*manifest["path_64"], *manifest["path_256"]])
    assert all(Path(path).is_relative_to(work / "outputs" / "samples") for path in manifest["path_256"])


@pytest.fixture(params=["wheel", "editable", "source"])
def install(request: pytest.FixtureRequest, source: Path, tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """(the interpreter, its environment, where its package must come from) for each way of having the harness."""
    env = installed_env(tmp_path)
    if request.param == "wheel":
        python = request.getfixturevalue("venv_python")
        return python, env, python.parents[1]
    if request.param == "editable":
        return request.getfixturevalue("editable_python"), env, source
    return request.getfixturevalue("bare_python"), {**env, "PYTHONPATH": str(source)}, source


def test_every_install_runs_the_main_job_and_an_experiment_from_an_unrelated_directory(install, tmp_path):
    python, env, home = install
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run(
        [str(python), "-c", "import harness.locations as l; print(l.CONF_DIR); print(l.EXPERIMENTS_DIR)"], work, env
    )
    conf, experiments = map(Path, where.stdout.split())
    assert conf.is_relative_to(home) and experiments.is_relative_to(home)
    steps = [f"sampler.base_steps={BASE_STEPS}", f"sampler.upsample_steps=ddim{UPSAMPLE_STEPS}"]
    run([str(python), "-m", "harness", "+suite=bias", "model=tiny", "sampler.samples_per_prompt=1", *steps], work, env)
    (run_dir,) = (work / "outputs" / "runs").iterdir()
    prompts = yaml.safe_load((CONF / "suite" / "bias.yaml").read_text())["prompts"]
    assert len(pd.read_parquet(run_dir / "results.parquet")) == len(prompts)
    plan = run([str(python), "-m", "harness", "-m", "+experiment=novel", "model=tiny", "runner.stage=plan"], work, env)
    assert "plan: the command is valid" in plan.stdout
