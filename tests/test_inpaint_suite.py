"""The inpainting suite through the real command line: `+suite=inpaint model=tiny` samples its generated sources
with the tiny text-to-image pair, inpaints them, scores them and reports them; bad sources stop it in one line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from cli_helpers import CONF, check, cli_env, error_lines, files_under, run_cli
from PIL import Image
from test_report import Dom
from wandb_files import offline_runs, table_json

SUITE = yaml.safe_load((CONF / "suite" / "inpaint.yaml").read_text())
# Short inpainting loops; the sources keep the tiny pair's own settings (model.source.sampler), so they are the
# samples `+suite=... model=tiny` makes.
QUICK = ["sampler.base_steps=3", "sampler.upsample_steps=2", "sampler.samples_per_prompt=1", "sampler.dtype=fp32"]
RUN = ["hydra.run.dir=run", "store.cache_dir=store"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def inpaint_run(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("inpaint_run")
    result = check(run_cli(["+suite=inpaint", "model=tiny", *QUICK, *RUN], cwd=root, env=env))
    run = root / "run"
    check(run_cli([str(run)], cwd=root, env=env, module="harness.report"))
    return SimpleNamespace(
        root=root,
        result=result,
        samples=pd.read_parquet(run / "results.parquet"),
        summary=json.loads((run / "summary.json").read_text()),
        wandb=offline_runs(run),
        report=(run / "report.html").read_text(),
        log=(run / "harness.log").read_text(),
    )


def pixels(path: str | Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_model_tiny_runs_the_tiny_inpainting_pair_with_the_clip_and_inpaint_scorers(inpaint_run):
    samples = inpaint_run.samples
    assert len(samples) == len(SUITE["prompts"])
    assert all(m.startswith("tiny_inpaint:tiny_base_inpaint+tiny_upsample_inpaint@") for m in samples["model_id"])
    assert "note: suite 'inpaint' inpaints: model=tiny runs as model=tiny_inpaint" in inpaint_run.result.stderr
    # Hydra composed the inpainting preset itself, so the saved config says what ran.
    saved = yaml.safe_load((inpaint_run.root / "run" / ".hydra" / "overrides.yaml").read_text())
    assert "model=tiny_inpaint" in saved and "model=tiny" not in saved
    assert {"clip.score", "inpaint.clip_score", "inpaint.known_psnr_64", "inpaint.known_lpips_256"} <= set(samples)


def test_each_generated_source_is_the_256px_text_to_image_sample_in_the_store(inpaint_run):
    samples = inpaint_run.samples
    store = (inpaint_run.root / "store").resolve()
    by_prompt = {p["id"]: p for p in SUITE["prompts"]}
    for _, row in samples.iterrows():
        source = Path(row["path_source"])
        assert source.parent.parent == store / "upsample" and pixels(source).shape == (256, 256, 3)
        assert row["source_prompt"] == by_prompt[row["prompt_id"]]["image"]["prompt"]
        assert row["source_seed"] == by_prompt[row["prompt_id"]]["image"]["seed"]
    assert samples["path_source"].nunique() == len(SUITE["prompts"])


def test_known_pixels_of_the_64px_result_equal_the_source_exactly(inpaint_run):
    for _, row in inpaint_run.samples.iterrows():
        mask = np.asarray(Image.open(row["path_mask"]).convert("L"))
        assert mask.shape == (64, 64) and set(np.unique(mask)) == {0, 255}
        rect = next(p["mask"] for p in SUITE["prompts"] if p["id"] == row["prompt_id"])
        expected = np.ones((64, 64), dtype=bool)
        rows = slice(round(rect["top"] * 64), round(rect["bottom"] * 64))
        expected[rows, round(rect["left"] * 64) : round(rect["right"] * 64)] = False
        assert np.array_equal(mask == 255, expected)
        with Image.open(row["path_source"]) as image:
            source_64 = np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BICUBIC))
        result_64 = pixels(row["path_64"])
        assert np.array_equal(result_64[expected], source_64[expected])
        assert not np.array_equal(result_64[~expected], source_64[~expected])
        assert row["inpaint.known_mse_64"] == 0 and row["inpaint.known_psnr_64"] == math.inf


def test_summary_and_wandb_carry_the_inpaint_metrics_and_columns(inpaint_run):
    metrics = inpaint_run.summary["metrics"]
    assert metrics["inpaint/known_exact_64"] == 1.0 and metrics["inpaint/known_exact_256"] == 1.0
    assert metrics["inpaint/n_prompts"] == len(SUITE["prompts"])
    (logged,) = inpaint_run.wandb
    assert logged.summary["inpaint/known_exact_64"] == 1.0
    assert logged.summary["inpaint/clip_score_mean"] == pytest.approx(metrics["inpaint/clip_score_mean"])
    table = table_json(logged, "samples")
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert [row["inpaint.clip_score"] for row in rows] == pytest.approx(
        inpaint_run.samples["inpaint.clip_score"].tolist()
    )
    assert [row["source_prompt"] for row in rows] == inpaint_run.samples["source_prompt"].tolist()


def test_the_report_shows_source_mask_and_both_results_per_sample(inpaint_run):
    dom = Dom.parse(inpaint_run.report)
    (section,) = [n for n in dom.find_all("section") if n.attrs.get("id") == "inpaint"]
    rows = section.find_all("tr", "inpaint-row")
    assert sorted(r.attrs["data-prompt"] for r in rows) == sorted(p["id"] for p in SUITE["prompts"])
    for row in rows:
        classes = [img.attrs["class"] for img in row.find_all("img")]
        assert classes == ["inpaint-source", "inpaint-mask", "inpaint-result_64", "inpaint-result_256"]
    for img in section.find_all("img"):
        assert (inpaint_run.root / "run" / img.attrs["src"]).is_file()


def test_the_sources_are_the_samples_model_tiny_makes_of_their_prompts(inpaint_run, env, tmp_path):
    """A text-to-image run of a source's prompt and seed finds its images in the store: equal keys."""
    (prompt,) = [p for p in SUITE["prompts"] if p["image"] == {"prompt": "a living room with a couch", "seed": 0}]
    args = ["+suite=couch", "model=tiny", "scorers=[]"]  # the couch suite's one prompt is that text
    store = inpaint_run.root / "store"
    run = [*args, "sampler.samples_per_prompt=1", "sampler.dtype=fp32", "logger=disabled"]
    check(run_cli([*run, "hydra.run.dir=t2i", f"store.cache_dir={store}"], cwd=tmp_path, env=env))
    manifest = pd.read_parquet(tmp_path / "t2i" / "manifest.parquet")
    source = inpaint_run.samples.set_index("prompt_id").loc[prompt["id"], "path_source"]
    assert Path(manifest.loc[0, "path_256"]).resolve() == Path(source)
    assert "0 base and 0 upsampled images to compute" in (tmp_path / "t2i" / "harness.log").read_text()


@pytest.mark.parametrize(
    ("image", "named"),
    [
        ("{prompt: a field of grass, seed: -1}", "generated source seed -1 must be an integer >= 0"),
        ("{prompt: '', seed: 0}", "generated source prompt '' must be a non-empty text"),
    ],
)
def test_a_bad_generated_source_is_one_line_exit_2_and_nothing_written(tmp_path, env, image, named):
    prompt = f"{{id: corgi, text: a corgi, image: {image}, mask: {{left: 0, top: 0.5, right: 1, bottom: 1}}}}"
    args = ["+suite=inpaint", f"suite.prompts=[{prompt}]", "model=tiny_inpaint", *QUICK, *RUN]
    result = run_cli(args, cwd=tmp_path, env=env)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert named in line and "prompt 'corgi'" in line
    assert files_under(tmp_path) == []


def test_absent_text_to_image_checkpoints_stop_the_run_before_any_sampling_naming_the_fetch(tmp_path, env):
    """Inpainting files present (official-format files of the tiny presets), the source pair's absent."""
    import torch

    from harness.glide.models import random_model

    for stage, preset in (("base", "tiny_base_inpaint"), ("upsample", "tiny_upsample_inpaint")):
        torch.save(random_model(preset, 0).state_dict(), tmp_path / f"{stage}_inpaint.pt")
    official = [
        "model.weights=official",
        f"model.base_path={tmp_path / 'base_inpaint.pt'}",
        f"model.upsample_path={tmp_path / 'upsample_inpaint.pt'}",
        "model.download=false",
        "model.source.weights=official",
        f"model.cache_dir={tmp_path / 'empty_cache'}",
    ]
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli(["+suite=inpaint", "model=tiny_inpaint", *official, *QUICK, *RUN], cwd=work, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = error_lines(result)
    assert "python -m harness.fetch" in line and "base" in line
    assert files_under(work) == []
