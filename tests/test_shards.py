"""Sharded runs through the real command line: `runner.shard=I/N runner.stage=sample` into one store, then
`python -m harness.cli.score RUN_DIR`, and the joblib and submitit_local launchers running the shards in separate
processes.
Whatever the route, the samples must be those of the 1-shard run of the same plan, pixel for pixel.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from cli_helpers import TINY, check, cli_env, error_lines, files_under, run_cli, store_pngs

import harness.cli.score

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(harness.cli.score, "main"), reason="python -m harness.cli.score is not there yet"),
]

PROMPTS = {"cube": "a red cube on a table", "ball": "a blue ball in the grass"}
N_SEEDS = 2
N_SAMPLES = len(PROMPTS) * N_SEEDS
# Columns that name where a sample lies or how long it took: they differ between stores and machines.
LOCAL_COLUMNS = ["path_64", "path_256", "time_base_s", "time_up_s"]


def write_prompts(path: Path) -> Path:
    path.write_text("id,text,style\n" + "".join(f"{pid},{text},plain\n" for pid, text in PROMPTS.items()))
    return path


def args(prompts: Path, *, store: str, extra: list[str], multirun: bool = False) -> list[str]:
    return [
        *(["-m"] if multirun else []),
        "+suite=file",
        f"suite.path={prompts}",
        *TINY,
        "scorers=[]",
        "logger=disabled",
        f"sampler.samples_per_prompt={N_SEEDS}",
        f"store.cache_dir={store}",
        *extra,
    ]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(tmp_path_factory.mktemp("shards_home"))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shards")
    write_prompts(path / "prompts.csv")
    return path


@pytest.fixture(scope="module")
def one_shard(root: Path, env: dict[str, str]) -> SimpleNamespace:
    check(run_cli(args(root / "prompts.csv", store="store_one", extra=["hydra.run.dir=one"]), cwd=root, env=env))
    return SimpleNamespace(manifest=pd.read_parquet(root / "one" / "manifest.parquet"), store=root / "store_one")


@pytest.fixture(scope="module")
def sharded(root: Path, env: dict[str, str]) -> SimpleNamespace:
    """Shard 0 of 2, the score step while shard 1 is missing, shard 1, the score step again."""
    prompts, out = root / "prompts.csv", SimpleNamespace(store=root / "store_shared")

    def sample(index: int) -> pd.DataFrame:
        extra = [f"runner.shard={index}/2", "runner.stage=sample", f"hydra.run.dir=shard{index}"]
        check(run_cli(args(prompts, store="store_shared", extra=extra), cwd=root, env=env))
        return pd.read_parquet(root / f"shard{index}" / "manifest.parquet")

    out.shard0 = sample(0)
    out.shard0_files = files_under(root / "shard0")
    out.missing = run_cli([str(root / "shard0")], cwd=root, env=env, module="harness.cli.score")
    out.after_missing = files_under(root / "shard0")
    out.shard1 = sample(1)
    check(run_cli([str(root / "shard0")], cwd=root, env=env, module="harness.cli.score"))
    out.manifest = pd.read_parquet(root / "shard0" / "manifest.parquet")
    out.summary = json.loads((root / "shard0" / "summary.json").read_text())
    return out


LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
}


@pytest.fixture(scope="module", params=list(LAUNCHERS))
def launched_shards(request, root: Path, env: dict[str, str]) -> SimpleNamespace:
    """Both shards as one multirun on a Hydra launcher plugin: separate worker processes, one store."""
    name = request.param
    extra = [*LAUNCHERS[name], "runner.shard=0/2,1/2", "runner.stage=sample", f"hydra.sweep.dir={name}_sweep"]
    check(run_cli(args(root / "prompts.csv", store=f"store_{name}", extra=extra, multirun=True), cwd=root, env=env))
    sweep = root / f"{name}_sweep"
    return SimpleNamespace(
        launcher=name,
        store=root / f"store_{name}",
        multirun=yaml.safe_load((sweep / "multirun.yaml").read_text()),
        manifests=[pd.read_parquet(sweep / str(job) / "manifest.parquet") for job in (0, 1)],
    )


def relative_paths(manifest: pd.DataFrame, store: Path) -> list[tuple[str, str]]:
    root = store.resolve()
    return [
        (str(Path(a).relative_to(root)), str(Path(b).relative_to(root))) for a, b in manifest[LOCAL_COLUMNS[:2]].values
    ]


def assert_same_pngs(store: Path, reference: Path) -> None:
    images, expected = store_pngs(store), store_pngs(reference)
    assert sorted(images) == sorted(expected) and len(expected) == 2 * N_SAMPLES
    for name, pixels in expected.items():
        np.testing.assert_array_equal(images[name], pixels, err_msg=name)


def test_the_one_shard_run_has_every_prompt_and_seed(one_shard):
    pairs = list(zip(one_shard.manifest["prompt_id"], one_shard.manifest["seed"], strict=True))
    assert pairs == list(itertools.product(PROMPTS, range(N_SEEDS)))


def test_each_shard_samples_whole_prompts_and_together_they_cover_the_plan(sharded, one_shard):
    assert sharded.shard0["prompt_id"].tolist() == ["cube"] * N_SEEDS
    assert sharded.shard1["prompt_id"].tolist() == ["ball"] * N_SEEDS
    keys = sharded.shard0["key"].tolist() + sharded.shard1["key"].tolist()
    assert sorted(keys) == sorted(one_shard.manifest["key"])


def test_a_sample_stage_run_writes_its_manifest_but_no_scores(sharded):
    assert "manifest.parquet" in sharded.shard0_files
    assert not {"results.parquet", "summary.json"} & set(sharded.shard0_files)


def test_the_score_step_names_the_missing_samples_and_writes_nothing(sharded, one_shard):
    result = sharded.missing
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert line.startswith("error: ") and f"{N_SEEDS} of {N_SAMPLES}" in line
    ball_keys = one_shard.manifest.loc[one_shard.manifest["prompt_id"] == "ball", "key"]
    assert any(key in line for key in ball_keys)
    assert sharded.after_missing == sharded.shard0_files


def test_the_score_step_writes_the_manifest_of_the_one_shard_run(sharded, one_shard):
    pd.testing.assert_frame_equal(
        sharded.manifest.drop(columns=LOCAL_COLUMNS), one_shard.manifest.drop(columns=LOCAL_COLUMNS)
    )
    assert relative_paths(sharded.manifest, sharded.store) == relative_paths(one_shard.manifest, one_shard.store)
    assert sharded.summary["run"]["suite"] == "file" and sharded.summary["run"]["random_weights"] is True


def test_shards_sample_the_pngs_of_the_one_shard_run(sharded, one_shard):
    assert_same_pngs(sharded.store, one_shard.store)


def test_the_launcher_runs_the_shards_as_separate_jobs(launched_shards, one_shard):
    target = launched_shards.multirun["hydra"]["launcher"]["_target_"].lower()
    assert launched_shards.launcher.split("_")[0] in target
    assert [m["prompt_id"].unique().tolist() for m in launched_shards.manifests] == [["cube"], ["ball"]]
    keys = [key for manifest in launched_shards.manifests for key in manifest["key"]]
    assert sorted(keys) == sorted(one_shard.manifest["key"])


def test_launched_shards_sample_the_pngs_of_the_one_shard_run(launched_shards, one_shard):
    assert_same_pngs(launched_shards.store, one_shard.store)


@pytest.fixture(scope="module")
def scored_by_shards(root: Path, env: dict[str, str]) -> SimpleNamespace:
    """Under the default runner.stage=all: shard 0 alone, then shard 1 alone (which finds shard 0 done); and both
    as one joblib multirun, whose end scores the union."""
    prompts, out = root / "prompts.csv", SimpleNamespace()
    out.first, out.second = (
        run_cli(
            args(prompts, store="store_all", extra=[f"runner.shard={i}/2", f"hydra.run.dir=all{i}"]), cwd=root, env=env
        )
        for i in (0, 1)
    )
    out.first_files = files_under(root / "all0")
    sweep = root / "all_sweep"
    extra = [*LAUNCHERS["joblib"], "runner.shard=0/2,1/2", f"hydra.sweep.dir={sweep.name}"]
    out.multirun = run_cli(args(prompts, store="store_all_joblib", extra=extra, multirun=True), cwd=root, env=env)
    out.sweep, out.store = sweep, root / "store_all_joblib"
    return out


def test_a_shard_whose_partners_are_not_done_exits_0_saying_the_union_is_scored_later(scored_by_shards, root):
    result = check(scored_by_shards.first)
    (line,) = [line for line in result.stdout.splitlines() if "the union" in line]
    assert "shard 0/2 sampled; the union of its 2 shards will be scored when they finish" in line
    assert f"python -m harness.cli.score {(root / 'all0').resolve()}" in line
    assert "manifest.parquet" in scored_by_shards.first_files and "summary.json" not in scored_by_shards.first_files


def test_the_shard_that_finds_its_partners_done_scores_the_union(scored_by_shards, root, one_shard):
    check(scored_by_shards.second)
    results = pd.read_parquet(root / "all1" / "results.parquet")
    assert sorted(results["key"]) == sorted(one_shard.manifest["key"])


def test_a_sharded_joblib_multirun_scores_the_union_once_at_its_end(scored_by_shards, one_shard):
    check(scored_by_shards.multirun)
    sweep = scored_by_shards.sweep
    assert (sweep / "1" / "manifest.parquet").is_file() and not (sweep / "1" / "summary.json").exists()
    manifest = pd.read_parquet(sweep / "0" / "manifest.parquet")
    pd.testing.assert_frame_equal(manifest.drop(columns=LOCAL_COLUMNS), one_shard.manifest.drop(columns=LOCAL_COLUMNS))
    summary = json.loads((sweep / "0" / "summary.json").read_text())
    assert summary["run"]["suite"] == "file"
    assert pd.read_parquet(sweep / "sweep_summary.parquet")["job"].tolist() == [0]
    assert_same_pngs(scored_by_shards.store, one_shard.store)


def test_a_sweeps_console_shows_the_harness_lines_not_each_jobs_launcher_line(scored_by_shards):
    """The launching process logs through Hydra's hydra_logging: the launcher's INFO line per job (`#0 : <its
    overrides>`) goes nowhere, the harness's own lines at the sweep's end reach the console."""
    stdout = check(scored_by_shards.multirun).stdout
    assert "scored the union of 2 shards" in stdout
    assert not [line for line in stdout.splitlines() if "#0 : " in line or "#1 : " in line]
