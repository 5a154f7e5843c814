"""Experiments end to end on the tiny model: each writes its claim's metric to results, the Findings table
(findings.parquet, the report, the W&B sweep-summary run) and, on random weights, shows no verdict.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import TINY, check, cli_env, run_cli
from PIL import Image
from scipy import ndimage
from wandb_files import offline_runs, table_json

from harness.findings import NO_VERDICT_RANDOM


def run_experiment(tmp_path: Path, name: str, *extra: str) -> Path:
    sweep = tmp_path / "sweep"
    args = ["-m", f"+experiment={name}", *TINY, "sampler.samples_per_prompt=2", f"hydra.sweep.dir={sweep}", *extra]
    check(run_cli([*args, f"store.cache_dir={tmp_path / 'store'}"], cwd=tmp_path, env=cli_env(tmp_path / "home")))
    return sweep


@pytest.fixture(scope="module")
def upsample_temp(tmp_path_factory) -> Path:
    return run_experiment(tmp_path_factory.mktemp("upsample_temp"), "upsample_temp")


@pytest.fixture(scope="module")
def styles(tmp_path_factory) -> Path:
    return run_experiment(tmp_path_factory.mktemp("styles"), "styles", "sampler.samples_per_prompt=1")


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
    assert list(findings["metric"]) == ["quality.sharpness_256", "quality.noise_256"]
    assert set(findings["verdict"]) == {NO_VERDICT_RANDOM}
    assert (findings["compare"] == "sampler.upsample_temp").all()
    comparisons = pd.read_parquet(upsample_temp / "paired_comparisons.parquet")
    step = comparisons[(comparisons["metric"] == "quality.sharpness_256")].iloc[0]
    assert findings["measured"].iloc[0].startswith(f"{step['value_a']}→{step['value_b']}: {step['diff']:.4g} [")
    results = [pd.read_parquet(upsample_temp / j / "results.parquet") for j in ("0", "1")]
    by_hand = (results[1]["quality.sharpness_256"] - results[0]["quality.sharpness_256"]).mean()
    assert step["diff"] == pytest.approx(by_hand)


def test_the_findings_table_opens_the_report_and_reaches_the_sweep_summary_run(upsample_temp):
    page = (upsample_temp / "report.html").read_text()
    assert page.index('id="findings"') < page.index('id="grids"')
    assert "Upsample temperature 0.990 was blurrier" in page and "no verdicts are shown" in page
    (logged,) = offline_runs(upsample_temp)
    table = table_json(logged, "findings")
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert [row["metric"] for row in rows] == ["quality.sharpness_256", "quality.noise_256"]


def test_styles_reports_p_intended_per_style_with_the_probe_validation(styles):
    (job,) = [p for p in styles.iterdir() if p.name.isdigit()]
    results = pd.read_parquet(job / "results.parquet")
    probs = results[[c for c in results.columns if c.startswith("style.p.")]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
    pixel = results[(results["tag.style"] == "pixel art") & results["expected_class"].isna()]
    np.testing.assert_allclose(pixel["style.p_intended"], pixel["style.p.pixel_art"])
    findings = pd.read_parquet(styles / "findings.parquet")
    (row,) = findings.to_dict("records")
    assert row["metric"] == "style.p_intended" and row["expect"] == "lowest (pixel art)"
    assert row["measured"].startswith(f"pixel art: {pixel['style.p_intended'].mean():.4g} [")
    assert row["verdict"] == NO_VERDICT_RANDOM
