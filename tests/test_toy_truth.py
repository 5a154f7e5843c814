"""The truth table: does the harness find what the toy world planted?

Real sweeps on model=toy through the command line, one per experiment whose claim a design cut down from the
shipped one can still decide at the world's planted effects, and one truth table over all of them. Where an
effect is dialled to zero (model.world.*) the same sweep runs that world too. The oracle is the planted world:
the verdict from the truth must be "supported" where the world plants an effect and must not be where it plants
none; and where the scorer is the toy CLIP (bias, style) or a pixel measurement (quality), the verdict from the
scorers must be the truth's (the style probe's known misreading is a strict xfail, below). The detect rows (lake
area, objects present) read random OWLv2 / CLIPSeg weights: their scorers' column is shown, not asserted.

Why these would fail if something broke: a statistic that never supports misses the planted effects, one that
always supports (or ignores the direction) passes the flat worlds, which it must not; a scorer that reads
noise or a constant cannot reach "supported" at these sizes, and one that reads the wrong class or style
disagrees with the truth on the flat or the planted world.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cli_helpers import CONF, check, cli_env, command, run_cli

from harness.analysis import toy_truth as truth
from harness.analysis.findings import SUPPORTED
from harness.config.schema import SampleParams
from harness.toy.generator import render_upsample
from harness.toy.scene import compose
from harness.toy.vocabulary import read_prompt
from harness.toy.world import World


def _suite(name: str) -> list[dict]:
    return yaml.safe_load((CONF / "suite" / f"{name}.yaml").read_text())["prompts"]


def _confirmatory(prompts: list[dict]) -> list[dict]:
    return [p for p in prompts if p.get("tags", {}).get("role") != "exploratory"]


def _override(prompts: list[dict]) -> str:
    """suite.prompts=[...] in Hydra's override grammar: a subset of a shipped suite, fields as shipped."""

    def value(v) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "'" + str(v) + "'"

    return "suite.prompts=" + value(prompts)


# Each experiment's design: its overrides, the world entry dialled (if any) and its values. The world's defaults
# plant an effect; the other value of a dialled entry plants none. Sizes, and why each can decide, in
# docs/truth-table.md ("The test's designs").
PARAPHRASES = _suite("religious_paraphrases")  # 12 paraphrases, the seed's 2 prompts (exploratory), 14 controls
LAKES = _confirmatory(_suite("lake_scenes"))[:12]
GRID = _suite("style_grid")
SUBJECTS = list(dict.fromkeys(p["tags"]["subject"] for p in _confirmatory(GRID) if p["tags"]["kind"] == "probe"))[:24]
STYLES = [p for p in _confirmatory(GRID) if p["tags"]["kind"] == "control" or p["tags"]["subject"] in SUBJECTS]
PAIRS = [p for p in _suite("novel_pairs") if p["tags"].get("pair")][: 2 * 16]
DESIGNS = {
    "bias_vs_guidance": (
        ["sampler.guidance_scale=1.0,5.0", "sampler.samples_per_prompt=3", "scorers=[bias]"],
        "church_share_at_5",
        [0.45, 0.75],
    ),
    "styles": ([_override(STYLES), "sampler.samples_per_prompt=3", "scorers=[style]"], None, []),
    "upsample_temp": (
        [_override(LAKES), "sampler.upsample_temp=0.99,1.0", "sampler.samples_per_prompt=1", "scorers=[quality]"],
        None,
        [],
    ),
    "guidance_scale": (
        [_override(LAKES), "sampler.guidance_scale=1.0,5.0", "sampler.samples_per_prompt=1", "scorers=[detect]"],
        "lake_area_at_5",
        [0.2, 0.45],
    ),
    "novel": ([_override(PAIRS), "sampler.samples_per_prompt=4", "scorers=[detect]"], "drop_novel", [0.05, 0.35]),
}
# Rows whose scorer reads the images with the toy CLIP or measures pixels: their verdict must be the truth's.
JUDGED = {"bias/interest_share", "style.p_intended", "quality.sharpness_256", "quality.noise_256"}


def _launch(root: Path, env: dict[str, str], experiment: str) -> subprocess.Popen:
    """One design's sweep, its output in files (a pipe left unread could stall it); each its own store."""
    overrides, entry, values = DESIGNS[experiment]
    dial = [f"model.world.{entry}={','.join(map(str, values))}"] if entry else []
    args = ["-m", f"+experiment={experiment}", "model=toy", "logger=disabled", f"store.cache_dir=stores/{experiment}"]
    log = root / f"{experiment}.log"
    with log.open("w") as out:
        args += [f"hydra.sweep.dir=sweeps/{experiment}", *overrides, *dial]
        return subprocess.Popen(command(args), cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("toy_truth")
    env = cli_env(root / "home")
    # Two sweeps at a time: each is one thread, and most of a small sweep's time is its start and its report.
    names = list(DESIGNS)
    for pair in (names[i : i + 2] for i in range(0, len(names), 2)):
        codes = {name: process.wait(timeout=600) for name, process in [(n, _launch(root, env, n)) for n in pair]}
        for name, code in codes.items():
            assert code == 0, f"{name}: exit {code}\n{(root / f'{name}.log').read_text()[-4000:]}"
    # From another directory: the store is found where each sweep resolved store.cache_dir, not in the cwd.
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    paths = [str(root / "sweeps" / experiment) for experiment in DESIGNS]
    printed = check(run_cli(paths, cwd=elsewhere, env=env, module="harness.analysis.toy_truth")).stdout
    return Path(paths[0]), printed


@pytest.fixture(scope="module")
def table(sweep) -> pd.DataFrame:
    return pd.read_parquet(sweep[0] / truth.TABLE)


def _rows(table: pd.DataFrame, experiment: str, world: World, *, exploratory: bool = False) -> pd.DataFrame:
    mine = table[(table["experiment"] == experiment) & (table["world"] == world.model_id)]
    apart = mine["agree"] == truth.APART
    rows = mine[apart] if exploratory else mine[~apart]
    assert len(rows), (experiment, world)
    return rows


def _worlds(experiment: str, *, planted: bool) -> list[World]:
    """The worlds a design ran in that plant its effect (the defaults), or that plant none (dialled flat)."""
    _, entry, values = DESIGNS[experiment]
    default = getattr(World(), entry) if entry else None
    if planted:
        return [World()]
    return [World(**{entry: v}) for v in values if v != default]


PLANTED = [(e, w) for e in DESIGNS for w in _worlds(e, planted=True)]
FLAT = [(e, w) for e in DESIGNS for w in _worlds(e, planted=False)]


@pytest.mark.parametrize(("experiment", "world"), PLANTED, ids=[e for e, _ in PLANTED])
def test_a_planted_effect_is_supported_by_the_truth(table, experiment, world):
    for row in _rows(table, experiment, world).itertuples():
        assert row.planted.startswith(f"{truth.EFFECT}:"), row
        assert row.truth == SUPPORTED, (row.metric, row.truth_measured, row.design)


@pytest.mark.parametrize(("experiment", "world"), FLAT, ids=[e for e, _ in FLAT])
def test_an_effect_dialled_to_zero_reads_no_effect_and_is_not_supported_by_the_truth(table, experiment, world):
    for row in _rows(table, experiment, world).itertuples():
        assert row.planted.startswith(f"{truth.NO_EFFECT}:"), row
        assert row.truth != SUPPORTED, (row.metric, row.truth_measured)


# The toy CLIP's style probe reads about half the oil paintings of style_grid's subjects as pixel art (its gate
# saw styles alone, of a corgi and of a house): the scorers find pixel art above oil painting where the truth
# finds it below. A finding about the scorer (docs/truth-table.md); this case passes once the probe reads them.
MISREAD = pytest.mark.xfail(strict=True, reason="the toy CLIP reads oil paintings of most subjects as pixel art")
AGREEING = [
    pytest.param(e, w, id=f"{e}-{'planted' if (e, w) in PLANTED else 'flat'}", marks=[MISREAD] if e == "styles" else [])
    for e, w in PLANTED + FLAT
    if e in ("bias_vs_guidance", "styles", "upsample_temp")
]


@pytest.mark.parametrize(("experiment", "world"), AGREEING)
def test_the_toy_clip_and_the_pixel_measurements_reach_the_truth_s_verdict(table, experiment, world):
    rows = _rows(table, experiment, world)
    judged = rows[rows["metric"].isin(JUDGED)]
    assert len(judged) == len(rows)
    for row in judged.itertuples():
        assert (row.scorers, row.agree) == (row.truth, "yes"), (row.metric, row.scorers_measured, row.truth_measured)


def test_the_exploratory_prompts_are_a_row_apart_and_the_verdict_counts_the_confirmatory_ones(table):
    confirmatory = _rows(table, "bias_vs_guidance", World())
    exploratory = _rows(table, "bias_vs_guidance", World(), exploratory=True)
    assert list(confirmatory["n_prompts"]) == [12] and list(exploratory["n_prompts"]) == [2]
    assert exploratory["truth"].str.startswith("exploratory").all()


def test_the_planted_answers_are_read_from_each_run_s_world_table(table):
    """The dialled entries appear in the planted answer of the runs made with them, not the defaults."""
    (flat,) = _rows(table, "bias_vs_guidance", World(church_share_at_5=0.45))["planted"]
    (rising,) = _rows(table, "bias_vs_guidance", World())["planted"]
    assert "0.45 at guidance 1 -> 0.45 at 5" in flat and "0.45 at guidance 1 -> 0.75 at 5" in rising
    (dropped,) = _rows(table, "novel", World(drop_novel=0.05))["planted"]
    assert "novel 0.05, familiar 0.05" in dropped


def test_the_scorers_verdict_is_shown_beside_the_truth_and_the_table_is_printed(table, sweep):
    assert table["scorers"].str.len().gt(0).all() and table["scorers_measured"].str.len().gt(0).all()
    assert set(table["agree"]) <= {"yes", "no", truth.NO_VERDICT, truth.APART}
    written = (sweep[0] / truth.MARKDOWN).read_text()
    assert sweep[1] == written
    assert written.count("| bias_vs_guidance |") == 4 and "verdict from scorers" in written


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


# --- the world reads the shipped confirmatory suites as their claims mean them -----------------------------------


def test_every_paraphrase_draws_one_religious_building_whose_class_the_world_picks():
    for prompt in PARAPHRASES:
        if prompt["tags"]["kind"] == "probe":
            assert read_prompt(prompt["text"]).nouns == ("religious",), prompt["text"]


def test_the_world_reads_each_novel_pair_as_the_suite_tags_it():
    """A side-by-side composition ("a dog next to a bicycle") is familiar, the matched one ("riding") novel."""
    for prompt in _suite("novel_pairs"):
        if prompt["tags"].get("pair"):
            scene = compose(prompt["text"], 0, "classifier_free", 3.0, World())
            assert scene.composition == prompt["tags"]["kind"], prompt["text"]


# --- each metric's truth on worlds whose answer is certain ------------------------------------------------------

CERTAIN = dict(missing_subject=0.0, merge=0.0, drop_familiar=0.0, drop_novel=0.0, wrong_class_cfg=0.0)
CERTAIN.update(wrong_class_clip=0.0, style_failure=0.0, pixel_art_failure=0.0)
SEEDS = range(8)


def _records(prompt: str, world: World, guidance: str = "classifier_free", **params) -> list[dict]:
    sample_params = SampleParams(**{"guidance": guidance, "guidance_scale": 3.0, "upsample_temp": 0.997, **params})
    return [render_upsample(prompt, seed, sample_params, world)[1] for seed in SEEDS]


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
