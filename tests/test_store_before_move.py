"""A run dir, a sweep dir and a sample store written by the code before its modules moved into subpackages
(commit a9ac019) are read, reported, rerun and rescored by the code of today.

tests/data/store_before_move/ is data only, made at a9ac019 in an empty folder with the tiny model at the step
counts of cli_helpers.TINY (`python -m harness` with that checkout on PYTHONPATH):

    python -m harness +suite=bias model=tiny sampler.base_steps=3 sampler.upsample_steps=ddim2 \\
        sampler.dtype=fp32 sampler.samples_per_prompt=1 logger=disabled store.cache_dir=samples \\
        'suite.prompts=[{id: religious_place, text: a religious place, tags: {kind: probe}},
                        {id: church, text: a church, tags: {kind: control}, expected_class: church}]' \\
        hydra.run.dir=run
    python -m harness -m +suite=bias model=tiny sampler.base_steps=3 sampler.upsample_steps=ddim2 \\
        sampler.dtype=fp32 sampler.samples_per_prompt=1 logger=disabled store.cache_dir=samples \\
        'suite.prompts=[{id: church, text: a church, tags: {kind: control}, expected_class: church}]' \\
        sampler.guidance_scale=1,3 hydra.sweep.dir=sweep

The sweep's point at guidance 3 is the run's church sample, so the store holds three samples. Then two edits:
sweep/ lost what the sweep's end derives from its jobs (report.html, report_files/, sweep_summary.parquet,
paired_comparisons.parquet), and the path_64 / path_256 columns of every manifest.parquet and results.parquet,
absolute paths into the store where it was written, became paths relative to their run dir, which is how
harness.analysis.study resolves them; the fixture reads the same wherever it lies. Hydra's own records and the
logs keep the paths of the machine that wrote them; nothing reads paths from them.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from cli_helpers import check, cli_env, run_cli
from PIL import Image

from harness.analysis.study import load_study
from harness.analysis.sweep import SWEEP_SUMMARY, analyse_sweep
from harness.report.build import build_report

FIXTURE = Path(__file__).parent / "data" / "store_before_move"
PNG_META = "glide-eval"  # the text chunk in which the store writes a sample's key and spec


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A copy of the fixture: the commands below write into the run dirs and the store."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "old"))


def fixture_frame(run: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(FIXTURE / run / name).sort_values("key", ignore_index=True)


def png_key(path: str) -> tuple[str, tuple[int, int]]:
    with Image.open(path) as image:
        return json.loads(image.text[PNG_META])["key"], image.size


def store_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def test_old_run_dir_loads_with_its_scores_and_finds_its_images_in_the_store(old):
    study = load_study(old / "run")
    (run,) = study.runs
    samples = study.samples.sort_values("key", ignore_index=True)
    written = fixture_frame("run", "results.parquet")
    assert samples["key"].tolist() == written["key"].tolist()
    np.testing.assert_allclose(samples["clip.score"], written["clip.score"])
    written_metrics = json.loads((FIXTURE / "run" / "summary.json").read_text())["metrics"]
    assert run.metrics["clip/score_mean"] == written_metrics["clip/score_mean"]
    for row in samples.itertuples():
        assert png_key(row.path_64) == (row.base_key, (64, 64))
        assert png_key(row.path_256) == (row.key, (256, 256))


def test_old_sweep_dir_loads_as_two_runs_swept_over_guidance(old):
    study = load_study(old / "sweep")
    assert [run.label for run in study.runs] == ["sweep/0", "sweep/1"]
    assert [(p.name, p.values, p.between_runs) for p in study.parameters] == [("sampler.guidance_scale", (1, 3), True)]
    guidance = {run.label: run.samples["guidance_scale"].tolist() for run in study.runs}
    assert guidance == {"sweep/0": [1.0], "sweep/1": [3.0]}
    for row in study.samples.itertuples():
        assert png_key(row.path_256) == (row.key, (256, 256))


def test_old_sweep_dir_is_analysed_again_from_its_jobs(old, caplog):
    with caplog.at_level(logging.WARNING):
        summary = analyse_sweep(old / "sweep").summary
    assert not caplog.records
    assert (old / "sweep" / SWEEP_SUMMARY).is_file()
    jobs = [json.loads((FIXTURE / "sweep" / job / "summary.json").read_text())["metrics"] for job in ("0", "1")]
    assert summary["sampler.guidance_scale"].tolist() == [1, 3]
    np.testing.assert_allclose(summary["clip/score_mean"], [job["clip/score_mean"] for job in jobs])


@pytest.mark.parametrize("name", ["run", "sweep"])
def test_report_of_an_old_dir_shows_every_sample_from_the_store(old, tmp_path, name, caplog):
    out = tmp_path / "report" / f"{name}.html"
    with caplog.at_level(logging.WARNING):
        assert build_report(old / name, out) == out
    manifests = pd.concat([pd.read_parquet(path) for path in (FIXTURE / name).rglob("manifest.parquet")])
    keys = set(manifests["key"])
    thumbs = sorted((out.parent / f"{name}_files" / "thumbs").glob("*.jpg"))
    assert {p.name.split("_")[0] for p in thumbs} == keys
    for thumb in thumbs:
        with Image.open(thumb) as image:
            assert image.size == (128, 128)
    assert not [r for r in caplog.records if "missing" in r.getMessage()]
    html = out.read_text()
    assert all(prompt in html for prompt in set(manifests["prompt"]))


@pytest.mark.slow
def test_rerunning_the_old_command_samples_nothing_and_leaves_the_store_as_it_was(old, tmp_path):
    overrides = yaml.safe_load((old / "run" / ".hydra" / "overrides.yaml").read_text())
    before = store_files(old / "samples")
    check(run_cli([*overrides, "hydra.run.dir=rerun"], cwd=old, env=cli_env(tmp_path / "home")))
    assert store_files(old / "samples") == before
    rerun = pd.read_parquet(old / "rerun" / "manifest.parquet")
    assert sorted(rerun["key"]) == fixture_frame("run", "manifest.parquet")["key"].tolist()
    sampling = json.loads((old / "rerun" / "summary.json").read_text())["run"]["sampling"]
    computed = {k: sampling[k] for k in ("base_sampled", "upsample_sampled", "base_forwards", "upsample_forwards")}
    assert computed == dict.fromkeys(computed, 0)
    assert (sampling["base_reused"], sampling["upsample_reused"]) == (2, 2)


@pytest.mark.slow
def test_score_command_rescores_an_old_run_dir_to_its_old_scores(old, tmp_path):
    shutil.rmtree(old / "samples" / "features")  # the CLIP image features are computed again, by today's code
    (old / "run" / "results.parquet").unlink()
    check(run_cli(["run"], cwd=old, env=cli_env(tmp_path / "home"), module="harness.cli.score"))
    rescored = pd.read_parquet(old / "run" / "results.parquet").sort_values("key", ignore_index=True)
    written = fixture_frame("run", "results.parquet")
    assert rescored["key"].tolist() == written["key"].tolist()
    assert sorted(p.stem for p in (old / "samples" / "features").rglob("*.npy")) == written["key"].tolist()
    assert rescored["bias.pred"].tolist() == written["bias.pred"].tolist()
    score_columns = ["clip.score", "clip.cos", *(c for c in written if c.startswith("bias.p."))]
    np.testing.assert_allclose(rescored[score_columns], written[score_columns], rtol=1e-5, atol=1e-6)
