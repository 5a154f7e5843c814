"""Experiments end to end on the tiny model, on their pilot suites: each writes its claim's metric to results,
the Findings table (findings.parquet, the report, the W&B sweep-summary run) with the confirmatory rows and
the exploratory ones apart, and, on random weights, shows no verdict.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import TINY, check, cli_env, error_lines, files_under, run_cli
from PIL import Image
from scipy import ndimage
from transformers import pipeline
from wandb_files import offline_runs, table_json

from harness.analysis.findings import NO_VERDICT_RANDOM, ROLE_COLUMN
from harness.scorers.tiny_models import CLIPSEG, OWLV2, build

EXPLORATORY = "exploratory: the claim was made from this prompt"


def run_experiment(tmp_path: Path, name: str, *extra: str) -> Path:
    sweep = tmp_path / "sweep"
    args = ["-m", f"+experiment={name}", *TINY, "sampler.samples_per_prompt=2", f"hydra.sweep.dir={sweep}", *extra]
    check(run_cli([*args, f"store.cache_dir={tmp_path / 'store'}"], cwd=tmp_path, env=cli_env(tmp_path / "home")))
    return sweep


PILOTS = {"lake": "suite=lake_scenes_pilot", "styles": "suite=style_grid_pilot", "novel": "suite=novel_pairs_pilot"}
ONE = "sampler.samples_per_prompt=1"


def confirmatory(results: pd.DataFrame) -> pd.DataFrame:
    return results[results[ROLE_COLUMN].astype(str) != "exploratory"]


@pytest.fixture(scope="module")
def upsample_temp(tmp_path_factory) -> Path:
    return run_experiment(tmp_path_factory.mktemp("upsample_temp"), "upsample_temp", PILOTS["lake"], ONE)


@pytest.fixture(scope="module")
def styles(tmp_path_factory) -> Path:
    return run_experiment(tmp_path_factory.mktemp("styles"), "styles", PILOTS["styles"], ONE)


@pytest.fixture(scope="module")
def novel(tmp_path_factory) -> Path:
    return run_experiment(tmp_path_factory.mktemp("novel"), "novel", PILOTS["novel"], ONE)


@pytest.fixture(scope="module")
def guidance_scale(tmp_path_factory) -> Path:
    return run_experiment(tmp_path_factory.mktemp("guidance_scale"), "guidance_scale", PILOTS["lake"], ONE)


def jobs_of(sweep: Path) -> list[str]:
    """Job dir names in the order of the swept values (Hydra numbers the jobs in sweep order)."""
    return [p.name for p in jobs(sweep)]


def jobs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def test_upsample_temp_writes_sharpness_and_noise_per_sample_to_results(upsample_temp):
    for job in sorted(p for p in upsample_temp.iterdir() if p.name.isdigit()):
        results = pd.read_parquet(job / "results.parquet")
        assert {"quality.sharpness_256", "quality.noise_256"} <= set(results.columns)
        first = results.iloc[0]
        # Independently: SciPy's 4-neighbour Laplacian of the BT.601 grey image, interior pixels only.
        grey = np.asarray(Image.open(job / first["path_256"]).convert("RGB"), dtype=np.float64) @ [0.299, 0.587, 0.114]
        assert first["quality.sharpness_256"] == pytest.approx(ndimage.laplace(grey)[1:-1, 1:-1].var(), rel=1e-9)


def test_upsample_temp_findings_hold_both_metrics_steps_and_no_verdict_on_random_weights(upsample_temp):
    findings = pd.read_parquet(upsample_temp / "findings.parquet")
    assert list(findings["metric"]) == ["quality.sharpness_256", "quality.noise_256"] * 2
    assert list(findings["verdict"]) == [NO_VERDICT_RANDOM] * 2 + [EXPLORATORY] * 2
    assert (findings["compare"] == "sampler.upsample_temp").all()
    # The trend over all three temperatures: per prompt, the least-squares slope against the ranks 0, 1, 2,
    # the confirmatory prompts' mean in the first row, the seed's prompt's own in its exploratory row.
    results = [pd.read_parquet(upsample_temp / j / "results.parquet") for j in jobs_of(upsample_temp)]
    for row, role in ((0, confirmatory), (2, lambda r: r[r["prompt_id"] == "house_lake"])):
        means = np.array([role(r).groupby("prompt_id")["quality.sharpness_256"].mean().to_numpy() for r in results])
        slope = np.mean([np.polyfit(np.arange(len(results)), column, 1)[0] for column in means.T])
        assert findings["measured"].iloc[row].startswith(f"slope per step {slope:.4g} [")


def test_the_findings_table_opens_the_report_and_reaches_the_sweep_summary_run(upsample_temp):
    page = (upsample_temp / "report.html").read_text()
    assert page.index('id="findings"') < page.index('id="grids"')
    assert "Upsample temperature 0.990 was blurrier" in page and "no verdicts are shown" in page
    (logged,) = offline_runs(upsample_temp)
    table = table_json(logged, "findings")
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert [row["metric"] for row in rows] == ["quality.sharpness_256", "quality.noise_256"] * 2


def test_styles_reports_p_intended_per_style_with_the_probe_validation(styles):
    (job,) = [p for p in styles.iterdir() if p.name.isdigit()]
    results = pd.read_parquet(job / "results.parquet")
    probs = results[[c for c in results.columns if c.startswith("style.p.")]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
    pixel = results[(results["tag.style"] == "pixel art") & results["expected_class"].isna()]
    np.testing.assert_allclose(pixel["style.p_intended"], pixel["style.p.pixel_art"])
    findings = pd.read_parquet(styles / "findings.parquet")
    row, seed_row = findings.to_dict("records")
    assert row["metric"] == "style.p_intended" and row["expect"] == "lowest (pixel art)"
    # Paired by subject: each subject's pixel-art mean minus its ink painting's, averaged over the subjects.
    grid = confirmatory(results[results["expected_class"].isna()])
    means = grid.groupby(["tag.subject", "tag.style"])["style.p_intended"].mean().unstack()
    d = (means["pixel art"] - means["chinese ink painting"]).mean()
    assert row["measured"].startswith(f"pixel art − chinese ink painting: {d:.4g} [")
    assert row["verdict"] == NO_VERDICT_RANDOM
    assert row["design"] == "2 subjects x 4 styles: cannot decide (smallest p_holm 1 >= 0.05)"
    corgi = results[results["prompt_id"] == "corgi_pixel"]["style.p_intended"].mean()
    assert seed_row["verdict"] == EXPLORATORY and seed_row["measured"].startswith(f"pixel art: {corgi:.4g} [")


def best_box_score(path: Path, query: str) -> float:
    """transformers' zero-shot detection pipeline on the tiny OWLv2, one query, every box kept: the best score."""
    model, processor = build(OWLV2)
    detect = pipeline(
        "zero-shot-object-detection",
        model=model,
        tokenizer=processor.tokenizer,
        image_processor=processor.image_processor,
        device="cpu",
    )
    boxes = detect(Image.open(path).convert("RGB"), candidate_labels=[query], threshold=0.0)
    return max(box["score"] for box in boxes)


def test_novel_writes_each_objects_best_box_score_and_presence_per_sample(novel):
    (job,) = jobs(novel)
    results = pd.read_parquet(job / "results.parquet")
    assert len(results) == 5  # five prompts, one seed
    first = results.iloc[0]
    assert list(first["objects"]) == ["polar bear", "ship"]
    for item, column in (("polar bear", "polar_bear"), ("ship", "ship")):
        truth = best_box_score(job / first["path_256"], f"a photo of a {item}")
        assert first[f"detect.score.{column}"] == pytest.approx(truth, abs=1e-5)
    for _, row in results.iterrows():
        scores = [row[f"detect.score.{o.replace(' ', '_')}"] for o in row["objects"]]
        assert row["detect.all_present"] == all(score >= 0.1 for score in scores)


def test_novel_findings_compare_each_novel_prompt_with_its_familiar_pair_and_give_no_verdict(novel):
    (job,) = jobs(novel)
    results = pd.read_parquet(job / "results.parquet")
    findings = pd.read_parquet(novel / "findings.parquet")
    row, seed_row = findings.to_dict("records")
    assert row["metric"] == "detect.all_present" and row["compare"] == "tag.kind"
    assert row["expect"] == "lowest (novel)" and row["verdict"] == NO_VERDICT_RANDOM
    # Paired by object set: each pair's novel presence rate minus its familiar one's, averaged over the pairs.
    rates = confirmatory(results).groupby(["tag.pair", "tag.kind"])["detect.all_present"].mean().unstack()
    assert row["measured"].startswith(f"novel − familiar: {(rates['novel'] - rates['familiar']).mean():.4g} [")
    assert row["design"] == "2 pairs x 2 kinds: cannot decide (smallest p_holm 0.5 >= 0.05)"
    assert seed_row["verdict"] == EXPLORATORY and "polar_bear_ship" in seed_row["design"]
    (logged,) = offline_runs(novel)
    table = table_json(logged, "findings")
    assert [dict(zip(table["columns"], r, strict=True))["metric"] for r in table["data"]] == ["detect.all_present"] * 2


def lake_share_by_hand(path: Path) -> float:
    """The share of CLIPSeg's 'lake' mask whose sigmoid exceeds 0.5, from the tiny CLIPSeg called directly."""
    model, processor = build(CLIPSEG)
    inputs = processor(text=["lake"], images=[Image.open(path).convert("RGB")], return_tensors="pt")
    with torch.no_grad():
        probs = torch.sigmoid(model(**inputs).logits).numpy()
    return float((probs > 0.5).mean())


def test_guidance_scale_writes_the_lake_coverage_per_sample(guidance_scale):
    for job in jobs(guidance_scale):
        results = pd.read_parquet(job / "results.parquet")
        assert {"detect.coverage.house", "detect.coverage.lake"} <= set(results.columns)
        first = results.iloc[0]
        # A batched and a single forward may differ in the last bits: one pixel of the 32 x 32 mask may flip.
        truth = lake_share_by_hand(job / first["path_256"])
        assert first["detect.coverage.lake"] == pytest.approx(truth, abs=1.01 / 1024)


def test_guidance_scale_findings_hold_the_paired_coverage_steps_and_no_verdict(guidance_scale):
    findings = pd.read_parquet(guidance_scale / "findings.parquet")
    row, seed_row = findings.to_dict("records")
    assert row["metric"] == "detect.coverage.lake" and row["compare"] == "sampler.guidance_scale"
    assert row["verdict"] == NO_VERDICT_RANDOM
    comparisons = pd.read_parquet(guidance_scale / "paired_comparisons.parquet")
    steps = comparisons[comparisons["metric"] == "detect.coverage.lake"]
    assert len(steps) == 2
    results = [
        pd.read_parquet(job / "results.parquet").set_index(["prompt_id", "seed"]) for job in jobs(guidance_scale)
    ]
    for step, (low, high) in zip(steps.itertuples(), pairwise(results), strict=True):
        by_prompt = (high["detect.coverage.lake"] - low["detect.coverage.lake"]).groupby("prompt_id").mean()
        assert step.diff == pytest.approx(by_prompt.mean())
    assert row["measured"].startswith("slope per step ") and row["basis"].startswith("per-prompt slope")
    # Two prompts: a trend's smallest one-sided p is 1/4, so the table says the design cannot decide.
    assert row["design"] == "2 study prompts: cannot decide (smallest p_holm 0.25 >= 0.05)"
    assert seed_row["verdict"] == EXPLORATORY and seed_row["design"].startswith("1 exploratory prompt (house_lake)")


def test_a_missing_detector_fails_before_sampling_with_the_command_that_fetches_it(tmp_path):
    missing = "glide-eval-tests/no-such-detector"
    args = ["-m", "+experiment=novel", *TINY, f"scorer.detect.detector={missing}"]
    args += [f"hydra.sweep.dir={tmp_path / 'sweep'}", f"store.cache_dir={tmp_path / 'store'}"]
    result = run_cli(args, cwd=tmp_path, env=cli_env(tmp_path / "home"))
    assert result.returncode == 2
    assert error_lines(result)[-1].endswith(f"(hf://{missing}); fetch it with: hf download {missing}")
    assert files_under(tmp_path / "store") == [] and files_under(tmp_path / "sweep") == []
