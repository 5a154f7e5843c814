"""More shards than prompts: a shard that is dealt no prompt is a valid job. It writes an empty manifest with
the columns of any other, and the union of the shards is scored as if it were not there. The manual's sharding
recipe (docs/scale-out.md) is run as written, on a suite of two prompts and eight shards.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from cli_helpers import REPO, TINY, check, cli_env, run_cli

pytestmark = pytest.mark.slow

PROMPTS = {"cube": "a red cube on a table", "ball": "a blue ball in the grass"}
SHARDS = 8
QUICK = [*TINY, "scorers=[clip]", "logger=disabled", "sampler.samples_per_prompt=1"]


def manual_recipe() -> tuple[list[str], list[str]]:
    """The manual's one-machine sharding recipe (docs/scale-out.md): the sampling command's and the scoring
    command's arguments."""
    text = (REPO / "docs" / "scale-out.md").read_text().replace("\\\n", " ")
    pattern = r"python -m harness (-m [^\n#]*hydra/launcher=gpus[^\n#]*)\n\s*python -m harness\.cli\.score (\S+)"
    ((sample, score),) = re.findall(pattern, text)
    return sample.split(), [score]


def suite_args(prompts: Path) -> list[str]:
    return ["+suite=file", f"suite.path={prompts}", *QUICK]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("empty_shards")
    env = cli_env(root / "home")
    prompts = root / "prompts.csv"
    prompts.write_text("id,text\n" + "".join(f"{pid},{text}\n" for pid, text in PROMPTS.items()))
    out = SimpleNamespace(root=root)

    def single(stage: str) -> Path:
        run_dir = f"single_{stage}"
        extra = [f"runner.shard=5/{SHARDS}", f"runner.stage={stage}", f"hydra.run.dir={run_dir}", "store.cache_dir=s1"]
        check(run_cli([*suite_args(prompts), *extra], cwd=root, env=env))
        return root / run_dir

    out.single_all, out.single_sample = single("all"), single("sample")

    sample, score = manual_recipe()
    sample = [a for a in sample if not a.startswith(("+suite=", "suite.path="))]
    sample = [a.replace("outputs/sweeps/coco", "recipe") for a in sample]
    out.recipe_sample = check(
        run_cli([*sample, *suite_args(prompts), "hydra.launcher.n_jobs=2"], cwd=root, env=env, timeout=900)
    )
    out.recipe_score = check(run_cli(["recipe/0"], cwd=root, env=env, module="harness.cli.score", timeout=900))
    assert score == ["outputs/sweeps/coco/0"]

    shards = ",".join(f"{i}/{SHARDS}" for i in range(SHARDS))
    sweep = ["-m", *suite_args(prompts), f"runner.shard={shards}", "hydra.sweep.dir=sweep", "store.cache_dir=s2"]
    out.sweep = check(run_cli(sweep, cwd=root, env=env, timeout=900))
    return out


def test_a_run_of_a_shard_without_prompts_writes_an_empty_manifest(runs):
    union = pd.read_parquet(runs.root / "sweep" / "0" / "manifest.parquet")
    for run_dir in (runs.single_all, runs.single_sample):
        manifest = pd.read_parquet(run_dir / "manifest.parquet")
        assert manifest.empty
        assert list(manifest.columns) == list(union.columns)
        assert not (run_dir / "summary.json").exists()


def test_the_manual_recipe_samples_eight_shards_of_two_prompts_and_scores_their_union(runs):
    sweep = runs.root / "recipe"
    manifests = [pd.read_parquet(sweep / str(job) / "manifest.parquet") for job in range(1, SHARDS)]
    assert [len(m) for m in manifests] == [1, 0, 0, 0, 0, 0, 0]  # job 0's is now the union's
    results = pd.read_parquet(sweep / "0" / "results.parquet")
    assert sorted(results["prompt_id"]) == sorted(PROMPTS)
    assert results["clip.score"].notna().all()


def test_a_sharded_multirun_with_empty_shards_scores_the_union_once(runs):
    sweep = runs.root / "sweep"
    results = pd.read_parquet(sweep / "0" / "results.parquet")
    assert sorted(results["prompt_id"]) == sorted(PROMPTS)
    assert pd.read_parquet(sweep / "sweep_summary.parquet")["job"].tolist() == [0]
    assert all(not (sweep / str(job) / "summary.json").exists() for job in range(1, SHARDS))
