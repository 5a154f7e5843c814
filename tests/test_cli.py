"""End to end through the real command line: `python -m harness` in a subprocess on the tiny model, with W&B
offline and its run files read back. Expected values come from the suite files and the command's arguments.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from cli_helpers import (
    BASE_STEPS,
    CONF,
    MANIFEST_COLUMNS,
    TINY,
    UPSAMPLE_STEPS,
    check,
    cli_env,
    command,
    image_info,
    run_cli,
    store_pngs,
)
from PIL import Image
from wandb_files import offline_runs, staged_table_json, table_json

pytestmark = pytest.mark.slow

SUITES = sorted(p.stem for p in (CONF / "suite").glob("*.yaml"))
TINY_SCORERS = [
    "scorers=[clip,bias,fid]",
    "scorer.clip.bootstrap.resamples=50",
    "scorer.fid.feature_extractor=harness.scorers.tiny_features:TinyFeatures",
    "scorer.fid.kid_subset_size=4",
    "scorer.fid.kid_subsets=10",
]
N_REFERENCE = 8


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(tmp_path_factory.mktemp("cli_home"))


def write_reference_images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(folder / f"ref{i}.png")
    return folder


def read_run(run_dir: Path) -> SimpleNamespace:
    return SimpleNamespace(
        dir=run_dir,
        manifest=pd.read_parquet(run_dir / "manifest.parquet"),
        results=pd.read_parquet(run_dir / "results.parquet"),
        summary=json.loads((run_dir / "summary.json").read_text()),
    )


def store_bytes(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- one suite, end to end, and its rerun


@pytest.fixture(scope="module")
def bias_run(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> SimpleNamespace:
    """`+suite=bias` on the tiny model with the clip, bias and fid scorers (model=tiny makes the CLIP tiny too;
    fid gets a tiny feature extractor); read back at once, since the rerun below writes into the same dirs."""
    root = tmp_path_factory.mktemp("bias_run")
    reference = write_reference_images(root / "reference", N_REFERENCE)
    args = [
        "+suite=bias",
        *TINY,
        *TINY_SCORERS,
        f"scorer.fid.reference.folder={reference}",
        "sampler.samples_per_prompt=1",
        "hydra.run.dir=run",
        "store.cache_dir=store",
    ]
    result = check(run_cli(args, cwd=root, env=env))
    run = read_run(root / "run")
    run.args, run.root, run.store, run.result = args, root, root / "store", result
    run.log = (root / "run" / "harness.log").read_text()
    run.store_files = store_bytes(root / "store")
    run.wandb = offline_runs(root / "run")
    run.suite = yaml.safe_load((CONF / "suite" / "bias.yaml").read_text())
    return run


@pytest.fixture(scope="module")
def bias_rerun(bias_run: SimpleNamespace, env: dict[str, str]) -> SimpleNamespace:
    """The same command again, with the same store."""
    check(run_cli(bias_run.args, cwd=bias_run.root, env=env))
    run = read_run(bias_run.dir)
    run.store_files = store_bytes(bias_run.store)
    return run


def test_manifest_has_the_contract_columns_and_one_row_per_sample(bias_run):
    manifest = bias_run.manifest
    assert set(MANIFEST_COLUMNS) <= set(manifest.columns)
    assert [c for c in manifest.columns if c.startswith("tag.")] == ["tag.kind"]
    assert len(manifest) == len(bias_run.suite["prompts"])


def test_manifest_rows_are_the_suite_prompts_with_the_run_parameters(bias_run):
    manifest, prompts = bias_run.manifest, bias_run.suite["prompts"]
    assert manifest["prompt_id"].tolist() == [p["id"] for p in prompts]
    assert manifest["prompt"].tolist() == [p["text"] for p in prompts]
    expected_class = [None if pd.isna(value) else value for value in manifest["expected_class"]]
    assert expected_class == [p.get("expected_class") for p in prompts]
    assert manifest["tag.kind"].tolist() == [p["tags"]["kind"] for p in prompts]
    assert set(manifest["suite"]) == {"bias"}
    assert manifest["seed"].tolist() == [0] * len(prompts)
    assert set(manifest["guidance_scale"]) == {3.0} and set(manifest["upsample_temp"]) == {0.997}
    assert set(manifest["base_steps"]) == {str(BASE_STEPS)}
    assert set(manifest["upsample_steps"]) == {f"ddim{UPSAMPLE_STEPS}"}
    assert manifest["random_weights"].tolist() == [True] * len(prompts)
    assert manifest["model_id"].nunique() == 1 and "tiny" in manifest["model_id"][0]
    assert (manifest["time_base_s"] > 0).all() and (manifest["time_up_s"] > 0).all()


def test_keys_are_hex_and_unique_and_name_the_png_files(bias_run):
    manifest = bias_run.manifest
    for column, path_column in [("key", "path_256"), ("base_key", "path_64")]:
        assert manifest[column].is_unique
        assert all(len(key) >= 16 and int(key, 16) >= 0 for key in manifest[column])
        assert [Path(p).stem for p in manifest[path_column]] == manifest[column].tolist()


def test_sample_pngs_are_64_and_256_pixel_rgb_files_in_the_store(bias_run):
    store = bias_run.store.resolve()
    for path_column, size in [("path_64", 64), ("path_256", 256)]:
        for path in bias_run.manifest[path_column]:
            assert Path(path).is_absolute() and Path(path).is_relative_to(store)
            assert image_info(path) == ("RGB", (size, size), np.uint8)


def test_results_are_the_manifest_plus_one_column_per_score(bias_run):
    manifest, results = bias_run.manifest, bias_run.results
    pd.testing.assert_frame_equal(results[manifest.columns], manifest)
    scores = [c for c in results.columns if c not in manifest.columns]
    assert {"clip.score", "bias.pred"} <= set(scores)
    assert all(c.split(".", 1)[0] in ("clip", "bias", "fid") for c in scores)
    probabilities = results[[c for c in scores if c.startswith("bias.p.")]].to_numpy(dtype=float)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_summary_json_holds_the_run_its_metrics_notes_and_tables(bias_run):
    summary = bias_run.summary
    assert set(summary) == {"run", "metrics", "notes", "tables"}
    run = summary["run"]
    assert (run["model_id"], run["random_weights"], run["suite"], run["experiment"]) == (
        bias_run.manifest["model_id"][0],
        True,
        "bias",
        None,
    )
    assert run["overrides"] == [a for a in bias_run.args if not a.startswith("hydra.")]
    config = run["config"]
    assert not any(isinstance(value, dict) and value for value in config.values())  # {} stands for an empty node
    assert config["sampler.samples_per_prompt"] == 1 and config["sampler.guidance_scale"] == 3.0
    assert all(isinstance(note, str) for note in summary["notes"])
    for name, path in summary["tables"].items():
        assert path == "tables/" + name.replace("/", "__") + ".parquet"
        assert not pd.read_parquet(bias_run.dir / path).empty


def test_summary_metrics_are_named_per_scorer_and_count_the_samples(bias_run):
    metrics, prompts = bias_run.summary["metrics"], bias_run.suite["prompts"]
    assert all(name.split("/", 1)[0] in ("clip", "bias", "fid") for name in metrics)
    assert all(value is None or isinstance(value, (int, float)) for value in metrics.values())
    n_probe = sum(p.get("expected_class") is None for p in prompts)
    assert (metrics["clip/n"], metrics["fid/n"], metrics["fid/n_ref"]) == (len(prompts), len(prompts), N_REFERENCE)
    assert (metrics["bias/n_probe"], metrics["bias/probe_n"]) == (n_probe, len(prompts) - n_probe)
    assert metrics["clip/score_mean"] == pytest.approx(float(np.mean(bias_run.results["clip.score"])))


def test_the_console_shows_the_harness_lines_and_the_log_file_also_the_libraries_info(bias_run):
    console = bias_run.result.stdout.splitlines()
    assert any("[harness.run.runner][INFO]" in line for line in console)
    assert not [line for line in console if "][INFO]" in line and "][harness." not in line]
    assert "[root][INFO] - Using default SimpleTokenizer." in bias_run.log  # open_clip's line, in the file only


def test_each_note_is_logged_once(bias_run):
    notes = bias_run.summary["notes"]
    assert notes
    for note in notes:
        assert bias_run.log.count(note) == 1, note


def test_no_note_promises_an_interval_without_showing_it(bias_run):
    """A note that names an interval method shows the interval: `[low, high]` after it, with the run's bounds."""
    metrics = bias_run.summary["metrics"]
    notes = bias_run.summary["notes"]
    promising = [n for n in notes if re.search(r"(?<!no )(?<!no run )(?<!no confidence )interval\b", n)]
    assert promising  # the clip score's, and the class of interest's share over the 24 probe prompts
    for note in promising:
        shown = re.findall(r"\[(-?[\d.]+|n/a), (-?[\d.]+|n/a)\]", note)
        assert shown, note
    (interest,) = [n for n in notes if n.startswith("bias: class of interest church")]
    low, high = re.search(r"interval \[([\d.]+), ([\d.]+)\] \(.* over 24 prompts\)", interest).groups()
    assert float(low) == pytest.approx(metrics["bias/interest_share_ci_low"], abs=1e-3)
    assert float(high) == pytest.approx(metrics["bias/interest_share_ci_high"], abs=1e-3)
    for note in notes:  # a one-sided bound shows its value
        assert not re.search(r"lower bound(?! [\d.]+)", note), note
    (clip_note,) = [n for n in promising if n.startswith("clip: score_mean")]
    low, high = re.search(r"\[([-\d.]+), ([-\d.]+)\]", clip_note).groups()
    assert float(low) == pytest.approx(metrics["clip/score_ci_low"], rel=1e-3)
    assert float(high) == pytest.approx(metrics["clip/score_ci_high"], rel=1e-3)


def test_the_console_names_the_trackers_mode_its_files_and_the_sync_command(bias_run):
    (run,) = bias_run.wandb
    (line,) = [line for line in bias_run.result.stdout.splitlines() if "W&B: " in line]
    assert line.endswith(f"W&B: offline, run files in {run.dir}; upload with: wandb sync {run.dir}")


def test_the_tiny_clips_expected_random_init_warning_is_not_shown(bias_run):
    assert "No pretrained weights loaded" not in bias_run.result.stdout + bias_run.result.stderr + bias_run.log


def test_hydra_writes_the_config_and_overrides_into_the_run_dir(bias_run):
    overrides = yaml.safe_load((bias_run.dir / ".hydra" / "overrides.yaml").read_text())
    assert overrides == bias_run.summary["run"]["overrides"]
    assert yaml.safe_load((bias_run.dir / ".hydra" / "config.yaml").read_text())["suite"]["name"] == "bias"


def test_wandb_offline_run_is_in_the_run_dir_with_group_job_type_and_tags(bias_run):
    (logged,) = bias_run.wandb
    run = logged.run
    assert (run.project, run.run_group, run.job_type) == ("glide-eval", "bias", "sample-and-score")
    assert {"suite:bias", "model:tiny", "random-weights"} <= set(run.tags)


def test_wandb_config_and_summary_mirror_summary_json(bias_run):
    (logged,) = bias_run.wandb
    assert logged.config == bias_run.summary["run"]["config"]
    for name, value in bias_run.summary["metrics"].items():
        assert logged.summary[name] == (None if value is None else pytest.approx(value))


def test_wandb_samples_table_has_one_row_per_sample_with_every_results_column(bias_run):
    (logged,) = bias_run.wandb
    table, results = table_json(logged, "samples"), bias_run.results
    non_path = [c for c in results.columns if c not in ("path_64", "path_256")]
    assert table["columns"] == ["image_256", "image_64", *non_path]
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert [row["key"] for row in rows] == results["key"].tolist()
    assert [row["prompt"] for row in rows] == results["prompt"].tolist()
    assert [row["seed"] for row in rows] == results["seed"].tolist()
    assert [row["clip.score"] for row in rows] == pytest.approx(results["clip.score"].tolist())


def test_wandb_samples_table_images_are_the_store_pngs(bias_run):
    (logged,) = bias_run.wandb
    table = staged_table_json(logged, "samples")
    columns = table["columns"]
    for row, (_, sample) in zip(table["data"], bias_run.results.iterrows(), strict=True):
        for column, path_column, size in [("image_256", "path_256", 256), ("image_64", "path_64", 64)]:
            cell = row[columns.index(column)]
            assert (cell["_type"], cell["width"], cell["height"]) == ("image-file", size, size)
            assert cell["sha256"] == hashlib.sha256(Path(sample[path_column]).read_bytes()).hexdigest()


def test_first_run_samples_every_image_with_one_unet_call_per_sample_and_step(bias_run):
    n = len(bias_run.manifest)
    assert {k: v for k, v in bias_run.summary["run"]["sampling"].items() if k != "sampling_s"} == {
        "base_sampled": n,
        "base_reused": 0,
        "upsample_sampled": n,
        "upsample_reused": 0,
        "base_forwards": n * BASE_STEPS,
        "upsample_forwards": n * UPSAMPLE_STEPS,
    }


def test_rerunning_the_same_command_samples_nothing(bias_run, bias_rerun):
    n = len(bias_run.manifest)
    sampling = bias_rerun.summary["run"]["sampling"]
    assert (sampling["base_sampled"], sampling["upsample_sampled"]) == (0, 0)
    assert (sampling["base_forwards"], sampling["upsample_forwards"]) == (0, 0)
    assert (sampling["base_reused"], sampling["upsample_reused"]) == (n, n)


def test_rerun_leaves_the_store_untouched_and_lists_the_same_samples(bias_run, bias_rerun):
    assert bias_rerun.store_files == bias_run.store_files
    assert bias_rerun.manifest["key"].tolist() == bias_run.manifest["key"].tolist()


# ---------------------------------------------------------------- a 2x2 multirun


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> SimpleNamespace:
    """guidance 1, 3 x upsample temperature 0.99, 1.0 on the couch suite, two seeds, one shared store."""
    root = tmp_path_factory.mktemp("sweep")
    args = [
        "-m",
        "+suite=couch",
        *TINY,
        "scorers=[]",
        "sampler.samples_per_prompt=2",
        "sampler.guidance_scale=1,3",
        "sampler.upsample_temp=0.99,1.0",
        "hydra.sweep.dir=sweep",
        "store.cache_dir=store",
    ]
    check(run_cli(args, cwd=root, env=env))
    sweep_dir = root / "sweep"
    jobs = [read_run(sweep_dir / str(job)) for job in range(4)]
    for job in jobs:
        job.guidance = job.manifest["guidance_scale"].unique().item()
        job.temp = job.manifest["upsample_temp"].unique().item()
        job.sampling = job.summary["run"]["sampling"]
    return SimpleNamespace(dir=sweep_dir, jobs=jobs, summary=pd.read_parquet(sweep_dir / "sweep_summary.parquet"))


def test_a_2x2_multirun_writes_four_run_dirs_and_the_sweep_files(sweep):
    names = {p.name for p in sweep.dir.iterdir()}
    assert {"0", "1", "2", "3", "multirun.yaml", "sweep_summary.parquet", "report.html"} <= names
    assert not {"4"} & names
    for job in sweep.jobs:
        assert (job.dir / ".hydra" / "config.yaml").is_file() and len(job.manifest) == 2


def test_the_jobs_cover_the_grid_each_with_its_own_parameters(sweep):
    grid = {(job.guidance, job.temp) for job in sweep.jobs}
    assert grid == set(itertools.product([1.0, 3.0], [0.99, 1.0]))
    assert len({key for job in sweep.jobs for key in job.manifest["key"]}) == 8


def test_sweep_summary_has_one_row_per_job_with_its_overrides(sweep):
    summary = sweep.summary
    assert summary["job"].tolist() == [0, 1, 2, 3]
    assert [Path(p).resolve() for p in summary["run_dir"]] == [job.dir.resolve() for job in sweep.jobs]
    assert summary["sampler.guidance_scale"].astype(float).tolist() == [job.guidance for job in sweep.jobs]
    assert summary["sampler.upsample_temp"].astype(float).tolist() == [job.temp for job in sweep.jobs]


def test_sweep_report_is_an_html_page_beside_the_summary(sweep):
    page = (sweep.dir / "report.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html")


def test_jobs_with_the_same_guidance_share_their_64px_samples(sweep):
    bases = {}
    for job in sweep.jobs:
        bases.setdefault(job.guidance, []).append(set(job.manifest["base_key"]))
    (first_a, first_b), (second_a, second_b) = bases.values()
    assert first_a == first_b and second_a == second_b and not first_a & second_a


def test_the_base_model_runs_once_per_guidance_and_the_other_temperature_reuses_it(sweep):
    for guidance in (1.0, 3.0):
        jobs = [job for job in sweep.jobs if job.guidance == guidance]
        counts = sorted(
            (j.sampling["base_sampled"], j.sampling["base_reused"], j.sampling["base_forwards"]) for j in jobs
        )
        assert counts == [(0, 2, 0), (2, 0, 2 * BASE_STEPS)]


def test_every_job_upsamples_its_own_samples(sweep):
    for job in sweep.jobs:
        assert (job.sampling["upsample_sampled"], job.sampling["upsample_reused"]) == (2, 0)
        assert job.sampling["upsample_forwards"] == 2 * UPSAMPLE_STEPS


def test_each_job_and_the_sweep_summary_are_logged_to_wandb(sweep):
    for job in sweep.jobs:
        (logged,) = offline_runs(job.dir)
        assert logged.run.run_group == sweep.dir.name
    (logged,) = offline_runs(sweep.dir)
    assert logged.run.job_type == "sweep-summary"
    assert len(table_json(logged, "sweep_summary")["data"]) == 4


# ---------------------------------------------------------------- resume after SIGKILL, batching


N_RESUME = 6  # two prompts x three seeds


def resume_args(prompts: Path, store: str, batch_size: int, run_dir: str) -> list[str]:
    return [
        "+suite=file",
        f"suite.path={prompts}",
        *TINY,
        "scorers=[]",
        "logger=disabled",
        "sampler.samples_per_prompt=3",
        f"sampler.batch_size={batch_size}",
        f"hydra.run.dir={run_dir}",
        f"store.cache_dir={store}",
    ]


def upsampled(store: Path) -> list[Path]:
    return sorted((store / "upsample").rglob("*.png")) if (store / "upsample").is_dir() else []


def old_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"the first bytes of a file")
    past = time.time() - 3600
    os.utime(path, (past, past))
    return path


def start_and_kill_after_first_upsample(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Start the run and SIGKILL it as soon as its first 256px PNG lands: a write has just finished and the next
    sample is being computed, so the kill hits the middle of the run."""
    log = cwd / "killed_run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command(args), cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        try:
            while not upsampled(cwd / "store") and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL, log.read_text()[-3000:]


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> SimpleNamespace:
    """A run killed mid-way and rerun; the same run uninterrupted; and the same plan at batch size 4."""
    root = tmp_path_factory.mktemp("resume")
    prompts = root / "prompts.txt"
    prompts.write_text("a red cube on a table\n\n# a comment line\na blue ball in the grass\n")
    start_and_kill_after_first_upsample(resume_args(prompts, "store", 1, "run"), root, env)
    killed = SimpleNamespace(
        files=[p.name for p in (root / "store").rglob("*") if p.is_file()],
        based=len(list((root / "store" / "base").rglob("*.png"))),
        upsampled=len(upsampled(root / "store")),
        pngs=store_pngs(root / "store"),
    )
    # What a kill inside a write leaves: temp files no process holds, older than a write takes.
    stale = [
        old_file(root / "store" / "upsample" / "ff" / f".{'ff' * 16}.png.k1ll3d00.tmp"),
        old_file(root / "run" / ".manifest.parquet.k1ll3d00.tmp"),
    ]
    check(run_cli(resume_args(prompts, "store", 1, "run"), cwd=root, env=env))
    check(run_cli(resume_args(prompts, "store_ref", 1, "run_ref"), cwd=root, env=env))
    check(run_cli(resume_args(prompts, "store_batch4", 4, "run_batch4"), cwd=root, env=env))
    return SimpleNamespace(
        root=root,
        killed=killed,
        stale_left=[p for p in stale if p.exists()],
        run=read_run(root / "run"),
        reference=read_run(root / "run_ref"),
        batch4=read_run(root / "run_batch4"),
        pngs={name: store_pngs(root / name) for name in ("store", "store_ref", "store_batch4")},
    )


def test_the_kill_landed_mid_run(resumed):
    assert 1 <= resumed.killed.upsampled < N_RESUME


def test_a_killed_run_leaves_only_complete_pngs_in_the_store(resumed):
    killed = resumed.killed
    pngs = [name for name in killed.files if name.endswith(".png") and not name.startswith(".")]
    # Besides the PNGs: their timings, and the lock of the sample being computed (released by the kill).
    others = [name for name in killed.files if name not in pngs]
    assert all(name.endswith((".timing.json", ".lock")) for name in others), others
    assert len(killed.pngs) == len(pngs) == killed.based + killed.upsampled  # each one decoded in full


def test_the_rerun_samples_only_what_the_killed_run_left_missing(resumed):
    sampling, killed = resumed.run.summary["run"]["sampling"], resumed.killed
    assert (sampling["base_sampled"], sampling["base_reused"]) == (N_RESUME - killed.based, killed.based)
    assert (sampling["upsample_sampled"], sampling["upsample_reused"]) == (
        N_RESUME - killed.upsampled,
        killed.upsampled,
    )


def test_resumed_run_has_the_pngs_of_an_uninterrupted_run_bit_for_bit(resumed):
    resumed_pngs, reference = resumed.pngs["store"], resumed.pngs["store_ref"]
    assert sorted(resumed_pngs) == sorted(reference) and len(reference) == 2 * N_RESUME
    for name, pixels in reference.items():
        np.testing.assert_array_equal(resumed_pngs[name], pixels, err_msg=name)
    assert resumed.run.manifest["key"].tolist() == resumed.reference.manifest["key"].tolist()


def test_no_temp_lock_or_partial_files_are_left_in_the_store(resumed):
    store = resumed.root / "store"
    files = [p for p in store.rglob("*") if p.is_file()]
    pngs = [p for p in files if p.suffix == ".png" and not p.name.startswith(".")]
    assert sorted(files) == sorted(pngs + [p.with_suffix(".timing.json") for p in pngs])
    assert len(resumed.pngs["store"]) == len(pngs)  # every one decoded in full


def test_the_rerun_removes_the_temp_files_a_killed_write_left_in_the_store_and_run_dir(resumed):
    assert resumed.stale_left == []


def test_store_files_are_readable_by_others_under_the_usual_umask(resumed):
    # The CLI runs with the test process's umask; under 022 every stored file is 0644, not mkstemp's 0600.
    mask = os.umask(0o022)
    os.umask(mask)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (resumed.root / "store").rglob("*") if p.is_file()}
    assert modes == {0o666 & ~mask}


def test_batch_size_1_and_4_give_identical_pixels(resumed):
    batch1, batch4 = resumed.pngs["store_ref"], resumed.pngs["store_batch4"]
    assert sorted(batch1) == sorted(batch4)
    for name, pixels in batch1.items():
        np.testing.assert_array_equal(batch4[name], pixels, err_msg=name)
    assert resumed.batch4.manifest["key"].tolist() == resumed.reference.manifest["key"].tolist()
