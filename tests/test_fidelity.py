"""Sampler fidelity: LPIPS from local weights, the reference's seed-to-seed spread, the Fréchet guard, and a
reduced solver grid through the real command (fidelity.parquet, its verdicts, the report's table, the W&B
table). The equivalence test itself is specified in test_fidelity_equivalence.py."""

from __future__ import annotations

import re

import lpips
import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import check, cli_env, run_cli
from PIL import Image
from wandb_files import offline_runs, table_json

from harness.analysis.fidelity import FIDELITY, frechet, lpips_distances, lpips_network, seed_spread
from harness.config.schema import FidelityConfig
from harness.errors import ConfigError


def _png(path, seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


def test_lpips_from_a_local_state_dict_matches_lpips_on_its_own_image_tensors(tmp_path):
    torch.manual_seed(7)
    source = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    weights = tmp_path / "lpips_alex.pt"
    torch.save(source.state_dict(), weights)
    model = lpips_network("alex", str(weights), random_weights=False)
    a, b = _png(tmp_path / "a.png", 1), _png(tmp_path / "b.png", 2)
    ours = lpips_distances(model, [a, b], [b, b])
    with torch.no_grad():
        expected = source(lpips.im2tensor(np.asarray(Image.open(a))), lpips.im2tensor(np.asarray(Image.open(b))))
    assert ours[0] == pytest.approx(float(expected), rel=1e-5)
    assert ours[1] == 0.0 and ours[0] > 0


def test_seed_spread_is_the_pooled_within_prompt_sd_over_seeds():
    values = {"p1": [1.0, 2.0, 4.0], "p2": [10.0, 10.5], "p3": [3.0]}
    frame = pd.DataFrame([{"prompt_id": p, "seed": i, "m": v} for p, vs in values.items() for i, v in enumerate(vs)])
    expected = np.sqrt(np.mean([np.var([1.0, 2.0, 4.0], ddof=1), np.var([10.0, 10.5], ddof=1)]))
    assert seed_spread(frame, "m") == pytest.approx(expected)


def test_frechet_is_none_below_dim_plus_one_images_and_zero_for_identical_sets():
    rng = np.random.default_rng(0)
    small = rng.normal(size=(4, 4))
    assert frechet(small, small)[0] is None and "4 feature dims" in frechet(small, small)[1]
    big = rng.normal(size=(40, 4))
    assert frechet(big, big)[0] == pytest.approx(0.0, abs=1e-8)
    shifted = frechet(big, big + 1.0)[0]
    assert shifted == pytest.approx(4.0, rel=1e-6)  # only the means differ: |1|^2 summed over 4 dims


@pytest.fixture(scope="module")
def fidelity_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("fidelity")
    args = [
        "-m",
        "+experiment=sampler_fidelity",
        "model=tiny",
        "suite=couch",
        "sampler.dtype=fp32",
        "+fidelity_base=dpmpp_2m10,ddim25",
        "+fidelity_upsample=dpmpp_2m5",
        "fidelity.reference={sampler.base_loop: ddim, sampler.base_steps: '25',"
        " sampler.upsample_loop: dpmpp_2m, sampler.upsample_steps: '5'}",
        "hydra.sweep.dir=sweep",
        "store.cache_dir=store",
    ]
    check(run_cli(args, cwd=root, env=cli_env(root), timeout=900))
    sweep = root / "sweep"
    results = {job: pd.read_parquet(sweep / str(job) / "results.parquet") for job in (0, 1)}
    return sweep, pd.read_parquet(sweep / FIDELITY).set_index("job"), results


def test_the_reference_point_is_identical_to_itself(fidelity_sweep):
    _, table, _ = fidelity_sweep
    ref = table.loc[table["reference"]].iloc[0]
    assert ref["sampler.base_loop"] == "ddim" and ref["lpips"] == 0.0 and ref["diff.lpips"] == 0.0
    assert ref["clip_cosine"] == pytest.approx(1.0) and ref["diff.clip.score"] == 0.0
    assert ref["verdict"] == "reference" and not ref["equivalent"] and not ref["cheapest"]


def test_forwards_per_image_are_the_step_counts_of_each_stage(fidelity_sweep):
    _, table, _ = fidelity_sweep
    assert table.loc[0, "forwards_per_image"] == 10 + 5 and table.loc[1, "forwards_per_image"] == 25 + 5


def test_paired_diffs_and_spread_follow_the_results_of_the_two_jobs(fidelity_sweep):
    _, table, results = fidelity_sweep
    point, ref = (results[j].set_index(["prompt_id", "seed"])["clip.score"] for j in (0, 1))
    diff = (point - ref).groupby(level=0).mean().mean()
    spread = np.sqrt(ref.groupby(level=0).var(ddof=1).mean())
    assert table.loc[0, "diff.clip.score"] == pytest.approx(diff)
    assert table.loc[0, "spread.clip.score"] == pytest.approx(spread)
    assert table.loc[0, "lpips"] > 0 and table.loc[0, "diff.lpips"] == pytest.approx(table.loc[0, "lpips"])


def test_one_prompt_cannot_show_equivalence_so_no_point_is_cheapest(fidelity_sweep):
    _, table, _ = fidelity_sweep
    row = table.loc[0]
    assert row["spread_seeds"] == 4 and row["n_prompts"] == 1
    assert row["verdict"] == "cannot show equivalence at this n: 1 prompt(s), fewer than the 8 an interval needs"
    assert not row["equivalent"] and np.isnan(row["eq_low.clip.score"]) and not table["cheapest"].any()


def test_the_report_and_the_sweep_summary_run_carry_the_table(fidelity_sweep):
    sweep, table, _ = fidelity_sweep
    html = (sweep / "report.html").read_text()
    assert 'id="fidelity"' in html and "clip.score: diff [interval] / margin" in html
    assert "cannot show equivalence at this n" in html
    (logged,) = offline_runs(sweep)
    assert len(table_json(logged, "fidelity")["data"]) == len(table)


def test_on_the_toy_world_where_steps_change_no_picture_a_cheaper_loop_is_equivalent_and_cheapest(tmp_path):
    """The toy world plants "no effect" for the sampler's loop and steps (the same pixels at every setting): the
    point's LPIPS to the reference is exactly 0, every paired difference is 0, so it is shown equivalent within
    the reference's seed-to-seed spread and, being cheaper, is the cheapest. Offline: no pretrained network."""
    args = [
        "-m",
        "+experiment=sampler_fidelity",
        "model=toy",
        "+fidelity_base=ancestral100,dpmpp_2m10",
        "+fidelity_upsample=fast27",
        "logger=disabled",
        "hydra.sweep.dir=sweep",
        "store.cache_dir=store",
    ]
    check(run_cli(args, cwd=tmp_path, env=cli_env(tmp_path), timeout=900))
    table = pd.read_parquet(tmp_path / "sweep" / FIDELITY)
    points = table[~table["reference"]]
    assert len(points) == 1
    row = points.iloc[0]
    assert row["sampler.base_loop"] == "dpmpp_2m" and row["lpips"] == 0.0 and row["diff.clip.score"] == 0.0
    assert row["equivalent"] and row["cheapest"], row["verdict"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lpips_net": "resnet"}, "fidelity.lpips_net: 'resnet' is not one of alex, vgg, squeeze"),
        ({"lpips_backbone": "no_such.pt"}, "fidelity.lpips_backbone: 'no_such.pt' is neither auto, pretrained, random"),
    ],
)
def test_bad_lpips_options_are_refused_when_the_config_is_typed(tmp_path, options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        FidelityConfig(**options)
    weights = tmp_path / "lpips.pt"
    torch.save({"net.slice1.0.weight": torch.zeros(1)}, weights)  # read (tensors only), not matched, when typed
    assert FidelityConfig(lpips_backbone=str(weights)).lpips_backbone == str(weights)
