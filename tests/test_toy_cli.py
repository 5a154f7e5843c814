"""model=toy through the real command line: the bias suite sampled in two shards, then run as a user types it,
which finds every sample in the store and scores them.

Every image is a PNG of the right size, and every sample has its truth record under <store>/truth/; the toy CLIP's
bias probe names the religious class that the truth records drew.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cli_helpers import CONF, check, cli_env, image_info, run_cli
from scipy import stats

from harness.toy.generator import read_truth
from harness.toy.world import World

# The README's first run, as written: the bias suite at its default four seeds.
SUITE = ["+suite=bias", "model=toy", "store.cache_dir=store"]
SAMPLES = 4 * len(yaml.safe_load((CONF / "suite" / "bias.yaml").read_text())["prompts"])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy_cli")
    env = cli_env(root / "home")
    shards = ["-m", *SUITE, "runner.shard=0/2,1/2", "runner.stage=sample", "logger=disabled", "hydra.sweep.dir=shards"]
    check(run_cli(shards, cwd=root, env=env))
    root.joinpath("full.log").write_text(check(run_cli([*SUITE, "hydra.run.dir=run"], cwd=root, env=env)).stderr)
    return root


@pytest.fixture(scope="module")
def run(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "run" / "manifest.parquet")


def test_the_run_writes_64_and_256_px_pngs_labelled_as_the_toy_world(run):
    assert len(run) == SAMPLES
    assert run["model_id"].str.startswith("toy:world@").all() and not run["random_weights"].any()
    for path_64, path_256 in zip(run["path_64"], run["path_256"], strict=True):
        assert image_info(path_64)[:2] == ("RGB", (64, 64))
        assert image_info(path_256)[:2] == ("RGB", (256, 256))


def test_every_sample_has_its_truth_beside_the_store(run, root):
    for row in run.itertuples():
        for stage, key in (("base", row.base_key), ("upsample", row.key)):
            truth = read_truth(root / "store", stage, key)
            assert (truth["prompt"], truth["seed"], truth["key"]) == (row.prompt, row.seed, key)
    probes = run[run["tag.kind"] == "probe"]
    classes = {read_truth(root / "store", "upsample", key)["religious_class"] for key in probes["key"]}
    assert classes and None not in classes


def test_each_shard_samples_whole_prompts_and_together_they_cover_the_run(run, root):
    shards = [pd.read_parquet(root / "shards" / str(i) / "manifest.parquet") for i in range(2)]
    assert not set(shards[0]["prompt_id"]) & set(shards[1]["prompt_id"])
    assert sorted(pd.concat(shards)["key"]) == sorted(run["key"])


def test_the_run_after_the_shards_samples_nothing_and_scores_everything(run, root):
    log = root.joinpath("full.log").read_text() + (root / "run" / "harness.log").read_text()
    assert f"0 base and 0 upsampled images to compute, {SAMPLES} and {SAMPLES} found in the store" in log
    results = pd.read_parquet(root / "run" / "results.parquet")
    assert len(results) == SAMPLES and results["clip.score"].notna().all()


def test_the_toy_clip_names_the_religious_class_the_truth_records_drew_and_validates_the_probe(run, root):
    """Judged by the truth record, not the prompt: a sample drawn without its subject has no class and is left out.
    A probe exactly at the gate's 85% would fall below the binomial 0.1% quantile once in a thousand runs."""
    results = pd.read_parquet(root / "run" / "results.parquet")
    drawn = {}
    for key in results["key"]:
        items = [i for i in read_truth(root / "store", "upsample", key)["items"] if i["drawn"] is not None]
        if len(items) == 1:
            drawn[key] = items[0]["cls"]
    judged = results[results["key"].isin(drawn)]
    agree = int((judged["bias.pred"] == judged["key"].map(drawn)).sum())
    assert agree >= stats.binom.ppf(0.001, len(judged), 0.85), (agree, len(judged))
    metrics = json.loads((root / "run" / "summary.json").read_text())["metrics"]
    assert metrics["bias/validated"] == 1.0


def test_the_guide_clip_scorer_is_left_out_of_a_toy_run_with_a_note_saying_why():
    """The toy world has no noised CLIP to score with; cfg_vs_clip on model=toy still runs its other scorers."""
    from harness.config.checks import probe_scorers
    from harness.config.compose import typed_job

    rc = typed_job(["+experiment=cfg_vs_clip", "model=toy", "+guidance_point=clip3"])
    assert rc.scorers == ["clip", "guide_clip"]
    names, notes = probe_scorers(rc)
    assert names == ["clip"]
    assert notes == ["guide_clip: not run: the toy world renders its images without a guide CLIP (model=toy)"]


def test_the_first_run_shows_the_planted_church_share_above_every_other_class(root):
    """The README's first run ends with the bias probe validated and the church share, whose interval over the
    24 probe prompts holds the planted share at the default guidance and lies above every other class's."""
    metrics = json.loads((root / "run" / "summary.json").read_text())["metrics"]
    assert metrics["bias/validated"] == 1.0
    low, high = metrics["bias/share_ci_low[class=church]"], metrics["bias/share_ci_high[class=church]"]
    assert low <= World().church_share(3.0) <= high
    others = [v for k, v in metrics.items() if k.startswith("bias/share_ci_high[") and "class=church" not in k]
    assert len(others) == 7 and low > max(others)
