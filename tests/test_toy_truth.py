"""The truth table: does the harness find what the toy world planted?

One real sweep of bias_vs_guidance on model=toy (ten ambiguous religious prompts, guidance 1 and 5, three
seeds) in two planted worlds at once: a church share that rises from 0.2 to 0.9, and one held flat at 0.2.
The truth is the oracle: with the large planted effect the verdict from the truth is "supported", with the
effect dialled to zero it is not. The scorers' column (a tiny random CLIP here) is shown, never asserted.
The sample-level truths are checked on worlds whose rates are 0 or 1, where the answer is known in advance.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import check, cli_env, run_cli

from harness.findings import SUPPORTED
from harness.toy import truth
from harness.toy.generator import render_upsample
from harness.toy.world import World

PROBES = [
    "a religious building",
    "a religious place",
    "a place of worship",
    "a house of worship",
    "a house of god",
    "a holy place",
    "a sacred place",
    "a sacred building",
    "a temple of worship",
    "a house of prayer",
]
FLAT, LOW, HIGH = 0.2, 0.2, 0.9  # church share at guidance 1, and at 5 in the flat and the rising world


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("toy_truth")
    rows = "".join(f"p{i},{text},probe\n" for i, text in enumerate(PROBES))
    root.joinpath("probes.csv").write_text("id,text,kind\n" + rows)
    env = cli_env(root / "home")
    args = [
        "-m",
        "+experiment=bias_vs_guidance",
        "model=toy",
        "sampler.guidance_scale=1.0,5.0",
        "sampler.samples_per_prompt=3",
        "suite.prompts=[]",
        "suite.path=probes.csv",
        "scorers=[bias]",
        "logger=disabled",
        "store.cache_dir=store",
        "hydra.sweep.dir=sweep",
        f"model.world.church_share_at_1={LOW}",
        f"model.world.church_share_at_5={FLAT},{HIGH}",
    ]
    check(run_cli(args, cwd=root, env=env))
    # From another directory: the store is found where the sweep resolved store.cache_dir, not in the cwd.
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    printed = check(run_cli([str(root / "sweep")], cwd=elsewhere, env=env, module="harness.toy.truth")).stdout
    return root / "sweep", printed


@pytest.fixture(scope="module")
def table(sweep) -> pd.DataFrame:
    return pd.read_parquet(sweep[0] / truth.TABLE)


def _row(table: pd.DataFrame, share_at_5: float) -> pd.Series:
    world = World(church_share_at_1=LOW, church_share_at_5=share_at_5).model_id
    (row,) = table[table["world"] == world].itertuples(index=False)
    return pd.Series(row._asdict())


def test_a_large_planted_effect_is_supported_by_the_truth(table):
    row = _row(table, HIGH)
    assert (row["experiment"], row["metric"], row["n_prompts"]) == ("bias_vs_guidance", "bias/interest_share", 10)
    assert row["planted"].startswith(f"{truth.EFFECT}:")
    assert row["truth"] == SUPPORTED


def test_the_effect_dialled_to_zero_is_not_supported_and_reads_no_effect(table):
    row = _row(table, FLAT)
    assert row["planted"].startswith(f"{truth.NO_EFFECT}:")
    assert row["truth"] != SUPPORTED


def test_the_planted_answers_are_read_from_each_run_s_world_table(table):
    """The dialled shares (not the defaults 0.45 and 0.75) appear in each row's planted answer."""
    assert f"{LOW:g}" in _row(table, HIGH)["planted"] and f"{HIGH:g}" in _row(table, HIGH)["planted"]
    assert f"{HIGH:g}" not in _row(table, FLAT)["planted"]
    assert not table["planted"].str.contains("0.45|0.75").any()


def test_the_scorers_verdict_is_shown_beside_the_truth_and_the_table_is_printed(table, sweep):
    assert table["scorers"].str.len().gt(0).all() and table["scorers_measured"].str.len().gt(0).all()
    assert set(table["agree"]) <= {"yes", "no", truth.NO_VERDICT}
    written = (sweep[0] / truth.MARKDOWN).read_text()
    assert sweep[1] == written
    assert written.count("| bias_vs_guidance |") == 2 and "verdict from scorers" in written


def test_a_path_without_toy_runs_is_one_error_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        truth.main([str(tmp_path / "missing")])
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "missing" in lines[0]


def test_a_store_that_is_not_a_directory_is_one_error_line_and_exit_2(sweep, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        truth.main([str(sweep[0]), "--store", str(tmp_path / "nowhere")])
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--store" in lines[0] and "nowhere" in lines[0]


def test_a_store_without_the_runs_truth_is_one_error_line_and_exit_2(sweep, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        truth.main([str(sweep[0]), "--store", str(tmp_path)])
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no truth record" in lines[0] and "model=toy" in lines[0]


# --- each metric's truth on worlds whose answer is certain ------------------------------------------------------

CERTAIN = dict(missing_subject=0.0, merge=0.0, drop_familiar=0.0, drop_novel=0.0, wrong_class_cfg=0.0)
CERTAIN.update(wrong_class_clip=0.0, style_failure=0.0, pixel_art_failure=0.0)
SEEDS = range(8)


def _records(prompt: str, world: World, guidance: str = "classifier_free", **params) -> list[dict]:
    params = {"guidance": guidance, "guidance_scale": 3.0, "upsample_temp": 0.997, **params}
    return [render_upsample(prompt, seed, params, world)[1] for seed in SEEDS]


@pytest.mark.parametrize(
    ("metric", "prompt", "guidance", "failing"),
    [
        ("detect.all_present", "a polar bear sailing a ship", "classifier_free", {"drop_novel": 1.0}),
        ("style.p_intended", "pixel art of a corgi", "classifier_free", {"pixel_art_failure": 1.0}),
        ("clip.score", "a photograph of a corgi", "clip", {"wrong_class_clip": 1.0}),
    ],
)
def test_a_sample_truth_is_1_in_a_world_without_failures_and_0_in_one_that_always_fails(
    metric, prompt, guidance, failing
):
    value = truth.TRUTH[metric]
    assert [value(r) for r in _records(prompt, World(**CERTAIN), guidance)] == [1.0] * len(SEEDS)
    assert [value(r) for r in _records(prompt, World(**{**CERTAIN, **failing}), guidance)] == [0.0] * len(SEEDS)


def test_the_drawn_class_follows_a_church_share_of_1_or_0():
    churches = World(**CERTAIN, church_share_at_1=1.0, church_share_at_5=1.0)
    none = World(**CERTAIN, church_share_at_1=0.0, church_share_at_5=0.0)
    assert {truth.drawn_class(r) for r in _records("a holy place", churches)} == {"church"}
    assert "church" not in {truth.drawn_class(r) for r in _records("a holy place", none)}


@pytest.mark.parametrize("temperature", [0.97, 0.99, 1.0])
def test_the_upsample_truths_follow_the_temperature_law(temperature):
    """Sharpening and grain: 0 up to the onset 0.98, then linear to their value at T = 1 (docs/toy-world.md)."""
    world = World(sharpen_at_1=1.5, grain_sd_at_1=8.0, temp_onset=0.98)
    gain = max(0.0, (temperature - 0.98) / 0.02)
    (record, *_) = _records("a house by the lake", world, upsample_temp=temperature)
    assert truth.TRUTH["quality.sharpness_256"](record) == pytest.approx(1.5 * gain)
    assert truth.TRUTH["quality.noise_256"](record) == pytest.approx(8.0 * gain)


def test_the_lake_area_grows_with_its_planted_mean_and_is_missing_without_a_lake():
    world = World(**CERTAIN, lake_area_at_1=0.1, lake_area_at_5=0.6, lake_area_sd=0.0)
    small = [truth.lake_area(r) for r in _records("a house by the lake", world, guidance_scale=1.0)]
    large = [truth.lake_area(r) for r in _records("a house by the lake", world, guidance_scale=5.0)]
    assert all(0 < a < b for a, b in zip(small, large, strict=True))
    assert all(pd.isna(truth.lake_area(r)) for r in _records("a corgi", world))
