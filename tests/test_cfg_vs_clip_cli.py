"""The cfg_vs_clip experiment end to end on the tiny model: every guidance point samples the same prompts and seeds,
each job's guide_clip column is the noised CLIP's own cosine, and the two scores stand side by side in the report
and in W&B; a real model without the noised CLIP's files is refused before any work.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import TINY, check, cli_env, error_lines, files_under, run_cli
from PIL import Image
from wandb_files import offline_runs, table_json

from harness.glide.models import random_model
from harness.glide.noised_clip import ImageEncoder, TextEncoder, tokenize
from harness.glide.presets import TINY_NOISED_CLIP
from harness.scorers.guide_clip import CLIP_FETCH

PROMPTS = "[{id:cube,text:a red cube},{id:corgi,text:a corgi in a field}]"
# conf/guidance_point/: each point's (guidance, scale).
POINTS = {
    "cfg1": ("classifier_free", 1.0),
    "cfg3": ("classifier_free", 3.0),
    "cfg5": ("classifier_free", 5.0),
    "clip1.5": ("clip", 1.5),
    "clip3": ("clip", 3.0),
    "clip6": ("clip", 6.0),
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cfg_vs_clip")
    args = ["-m", "+experiment=cfg_vs_clip", *TINY, f"suite.prompts={PROMPTS}", "sampler.samples_per_prompt=2"]
    args += [f"hydra.sweep.dir={root / 'sweep'}", f"store.cache_dir={root / 'store'}"]
    check(run_cli(args, cwd=root, env=cli_env(root / "home")))
    return root / "sweep"


def jobs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def point_of(job: Path) -> str:
    overrides = json.loads((job / "summary.json").read_text())["run"]["overrides"]
    (point,) = [item.split("=", 1)[1] for item in overrides if item.startswith("+guidance_point=")]
    return point


def guide_cosines(results: pd.DataFrame, job: Path) -> np.ndarray:
    """model=tiny's guide called directly: the tiny noised CLIP drawn from model.seed + 2, text encoder first."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        text_encoder, image_encoder = TextEncoder(TINY_NOISED_CLIP).eval(), ImageEncoder(TINY_NOISED_CLIP).eval()
    with torch.no_grad():
        z_text = text_encoder(*tokenize(list(results["prompt"]))).double().numpy()
        pixels = np.stack([np.array(Image.open(job / p).convert("RGB")) for p in results["path_64"]])
        x = torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
        z_image = image_encoder(x, torch.zeros(len(x), dtype=torch.long)).double().numpy()
    z_text /= np.linalg.norm(z_text, axis=1, keepdims=True)
    z_image /= np.linalg.norm(z_image, axis=1, keepdims=True)
    return (z_text * z_image).sum(axis=1)


def test_each_guidance_point_samples_the_same_prompts_and_seeds_at_its_own_setting(sweep):
    assert sorted(point_of(job) for job in jobs(sweep)) == sorted(POINTS)
    cells = set()
    for job in jobs(sweep):
        results = pd.read_parquet(job / "results.parquet")
        assert set(zip(results["guidance"], results["guidance_scale"], strict=True)) == {POINTS[point_of(job)]}
        cells.add(tuple(sorted(zip(results["prompt_id"], results["seed"], strict=True))))
    assert cells == {(("corgi", 0), ("corgi", 1), ("cube", 0), ("cube", 1))}


def test_guide_clip_is_the_noised_clips_cosine_on_each_base_image(sweep):
    for job in jobs(sweep):
        results = pd.read_parquet(job / "results.parquet")
        cos = guide_cosines(results, job)
        np.testing.assert_allclose(results["guide_clip.cos"], cos, atol=1e-5)
        metrics = json.loads((job / "summary.json").read_text())["metrics"]
        prompt_means = pd.Series(100.0 * cos).groupby(results["prompt_id"].to_numpy()).mean()
        assert metrics["guide_clip/score_mean"] == pytest.approx(prompt_means.mean(), abs=1e-3)
        assert {"clip.score", "clip/score_mean"} <= set(results.columns) | set(metrics)


def test_both_scores_reach_each_jobs_wandb_run_and_the_sweep_summary(sweep):
    for job in jobs(sweep):
        metrics = json.loads((job / "summary.json").read_text())["metrics"]
        (logged,) = offline_runs(job)
        for name in ("clip/score_mean", "guide_clip/score_mean"):
            assert logged.summary[name] == pytest.approx(metrics[name])
    (summary_run,) = offline_runs(sweep)
    table = table_json(summary_run, "sweep_summary")
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    by_point = {row["guidance_point"]: row for row in rows}
    assert set(by_point) == set(POINTS)
    for job in jobs(sweep):
        metrics = json.loads((job / "summary.json").read_text())["metrics"]
        assert by_point[point_of(job)]["guide_clip/score_mean"] == pytest.approx(metrics["guide_clip/score_mean"])


def test_the_report_puts_both_scores_side_by_side_per_guidance_point(sweep):
    page = (sweep / "report.html").read_text()
    section = page[page.index('<section id="guide-scores">') :]
    section = section[: section.index("</section>")]
    rows = [
        re.findall(r"<td[^>]*>(.*?)</td>", row)
        for row in re.findall(r"<tr class=\"guide-score-row\">(.*?)</tr>", section)
    ]
    assert [(row[0], float(row[1])) for row in rows] == sorted(POINTS.values())
    by_job = {job.name: json.loads((job / "summary.json").read_text())["metrics"] for job in jobs(sweep)}
    for row in rows:
        metrics = by_job[row[5].rsplit("/", 1)[-1]]
        low = metrics["clip/score_ci_low"]  # None below the prompts an interval needs: the mean alone is shown
        shown = f"{metrics['clip/score_mean']:.4g}" + (f" [{low:.4g}, " if low is not None else "")
        assert row[2].startswith(shown) and (low is not None or "[" not in row[2])
        assert row[3].startswith(f"{metrics['guide_clip/score_mean']:.4g}")
    (nav,) = re.findall(r"<nav>(.*?)</nav>", page, flags=re.S)
    assert '<a href="#guide-scores">' in nav


def test_guide_clip_without_the_noised_clips_files_is_one_line_naming_the_fetch_and_writes_nothing(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    # Released-format base and upsampler files (tiny architecture), and no noised CLIP anywhere.
    torch.save(random_model("tiny_base", 0).state_dict(), weights / "base.pt")
    torch.save(random_model("tiny_upsample", 1).state_dict(), weights / "upsample.pt")
    work = tmp_path / "work"
    work.mkdir()
    model = ["model=glide", "model.base=tiny_base", "model.upsample=tiny_upsample", "model.clip=tiny_noised_clip"]
    model += [f"model.base_path={weights / 'base.pt'}", f"model.upsample_path={weights / 'upsample.pt'}"]
    args = ["+suite=couch", *model, "model.download=false", "scorers=[guide_clip]", "logger=disabled"]
    result = run_cli([*args, "hydra.run.dir=run", "store.cache_dir=store"], cwd=work, env=cli_env(tmp_path / "home"))
    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = error_lines(result)
    assert line.startswith("error: scorer guide_clip: ") and "clip_image_enc.pt" in line
    assert f"fetch it with: {CLIP_FETCH}" in line
    assert files_under(work) == []
