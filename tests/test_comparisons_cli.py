"""Paired comparisons of a real sweep: a guidance sweep's cells share prompts and seeds, and the difference
of every per-sample score is in paired_comparisons.parquet, the W&B sweep-summary run and the report, equal to
a paired computation done here from the jobs' results files (NumPy, SciPy, all sign flips enumerated)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from cli_helpers import TINY, check, cli_env, run_cli
from scipy import stats
from wandb_files import offline_runs, table_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("comparisons")
    args = ["-m", "+suite=novel", *TINY, "scorers=[clip]", "sampler.samples_per_prompt=2"]
    args += ["sampler.guidance_scale=1,3", "hydra.sweep.dir=sweep", "store.cache_dir=store"]
    check(run_cli(args, cwd=root, env=cli_env(root)))
    return root / "sweep"


def paired_by_hand(sweep_dir, metric: str) -> tuple[float, float, float, float, int]:
    """diff (guidance 3 minus 1) over prompts with seeds averaged, its Student t interval, and the sign-flip
    p over all flips."""
    cells = {}
    for job in ("0", "1"):
        results = pd.read_parquet(sweep_dir / job / "results.parquet")
        cells[results["guidance_scale"].iloc[0]] = results.groupby("prompt_id")[metric].mean()
    d = (cells[3.0] - cells[1.0]).to_numpy()
    low, high = stats.t.interval(0.95, df=len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    flips = [abs(np.dot(signs, d)) / len(d) for signs in itertools.product([-1.0, 1.0], repeat=len(d))]
    p = np.mean([f >= abs(d.mean()) * (1 - 1e-12) for f in flips])
    return d.mean(), low, high, p, len(d)


def test_the_sweep_writes_each_scores_paired_difference_between_the_guidance_values(sweep):
    table = pd.read_parquet(sweep / "paired_comparisons.parquet")
    row = table[(table["metric"] == "clip.score") & (table["param"] == "sampler.guidance_scale")].squeeze()
    diff, low, high, p, n = paired_by_hand(sweep, "clip.score")
    assert (float(row["value_a"]), float(row["value_b"]), row["n_prompts"]) == (1.0, 3.0, n)
    assert row["diff"] == pytest.approx(diff) and row["p"] == pytest.approx(p)
    # Fewer prompts than bootstrap.min_n (8): no interval is shown; from there, the hull holds Student t's.
    if n < 8:
        assert np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
    else:
        assert row["ci_low"] <= low + 1e-9 and row["ci_high"] >= high - 1e-9
    assert row["holm_family"] == f"all {len(table)} comparisons of the sweep"
    assert set(table["metric"]) == {"clip.score", "clip.cos"}
    # Holm over the sweep's two comparisons: the smaller p doubled, the larger one at least that, capped at 1.
    ordered = table.sort_values("p")
    expected = np.minimum(1, np.maximum.accumulate(ordered["p"].to_numpy() * [2, 1]))
    assert ordered["p_holm"].to_numpy() == pytest.approx(expected)


def test_the_sweep_summary_tracker_run_holds_the_comparisons(sweep):
    (summary_run,) = [run for run in offline_runs(sweep) if run.run.job_type == "sweep-summary"]
    logged = table_json(summary_run, "paired_comparisons")
    rows = [dict(zip(logged["columns"], row, strict=True)) for row in logged["data"]]
    on_disk = pd.read_parquet(sweep / "paired_comparisons.parquet")
    assert [row["metric"] for row in rows] == on_disk["metric"].tolist()
    assert [row["diff"] for row in rows] == pytest.approx(on_disk["diff"].tolist())


def test_the_report_shows_the_comparisons_table(sweep):
    page = (sweep / "report.html").read_text()
    section = page[page.index('<section id="comparisons">') :]
    section = section[: section.index("</section>")]
    assert section.count("<tr><td><code>sampler.guidance_scale</code>") == 2
    assert "Holm" in section and "clip.score" in section
