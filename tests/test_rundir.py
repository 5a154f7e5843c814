"""A run dir's files through harness.run.rundir: every file written and read back unchanged, where each one lies,
the summary written last, and the discovery of run dirs and of a sweep's finished jobs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from cli_helpers import MANIFEST_COLUMNS

from harness.config.schema import SamplerConfig
from harness.run.rundir import (
    SAMPLER_COLUMNS,
    RunDir,
    RunDirError,
    Summary,
    discover_run_dirs,
    finished_job_dirs,
    job_log,
    parse_overrides,
    table_file,
    write_manifest,
    write_results,
    write_table,
)
from harness.scorers.configs import ClipConfig
from harness.tracking.wandb_tracker import WandbConfig


def manifest_frame() -> pd.DataFrame:
    """Two samples with every kind of column a manifest holds: text, ints, floats, bools, missing values."""
    return pd.DataFrame(
        {
            "key": ["k0", "k1"],
            "prompt": ["a church", "a religious building"],
            "expected_class": ["church", None],
            "tag.style": [None, "photo"],
            "seed": [0, 1],
            "guidance_scale": [3.0, 3.0],
            "upsample_steps": ["fast27", "fast27"],
            "random_weights": [True, True],
            "time_up_s": [0.25, np.nan],
        }
    )


def scored(manifest: pd.DataFrame) -> pd.DataFrame:
    return manifest.assign(**{"clip.score": [0.31, 0.27], "bias.pred": ["church", "mosque"]})


TABLES = {
    "bias/distribution": pd.DataFrame({"class": ["church", "mosque"], "count": [1, 1], "share": [0.5, 0.5]}),
    "bias/confusion": pd.DataFrame({"expected": ["church", "mosque"], "church": [1, 0], "mosque": [0, 0]}),
    "clip/per_prompt": pd.DataFrame({"prompt_id": ["p0"], "score_mean": [0.29]}),
}
METRICS = {"clip/score_mean": 0.29, "bias/share[class=church]": 0.5, "fid/fid": None}
NOTES = ["fid: skipped, no reference statistics given"]
RUN_INFO = {"model_id": "glide-tiny", "overrides": ["+suite=bias"], "config": {"sampler.seed": 0}}


def write_scored_run(run_dir: Path) -> dict:
    write_manifest(run_dir, manifest_frame())
    return write_results(run_dir, scored(manifest_frame()), METRICS, TABLES, NOTES, RUN_INFO)


# ---------------------------------------------------------------- names


def test_a_table_lies_under_tables_with_slashes_as_double_underscores():
    assert table_file("bias/confusion") == "tables/bias__confusion.parquet"
    assert table_file("fid/groups/by_style") == "tables/fid__groups__by_style.parquet"
    assert table_file("plain") == "tables/plain.parquet"


def test_each_file_lies_where_the_run_dir_contract_puts_it(tmp_path):
    write_scored_run(tmp_path)
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert files == {
        "manifest.parquet",
        "results.parquet",
        "summary.json",
        "tables/bias__distribution.parquet",
        "tables/bias__confusion.parquet",
        "tables/clip__per_prompt.parquet",
    }


def test_sampler_columns_are_columns_of_the_manifest():
    assert set(SAMPLER_COLUMNS) <= set(MANIFEST_COLUMNS)


# ---------------------------------------------------------------- round trips


def test_the_manifest_reads_back_as_written(tmp_path):
    path = write_manifest(tmp_path, manifest_frame())
    assert path == tmp_path / "manifest.parquet"
    pd.testing.assert_frame_equal(RunDir(tmp_path).manifest(), manifest_frame())
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "manifest.parquet"), manifest_frame())


def test_results_and_every_table_read_back_as_written(tmp_path):
    write_scored_run(tmp_path)
    run = RunDir(tmp_path)
    pd.testing.assert_frame_equal(run.results(), scored(manifest_frame()))
    for name, table in TABLES.items():
        pd.testing.assert_frame_equal(run.table(name), table)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / table_file(name)), table)


def test_the_summary_reads_back_as_written_and_lists_each_table_file(tmp_path):
    returned = write_scored_run(tmp_path)
    listed = {
        "bias/distribution": "tables/bias__distribution.parquet",
        "bias/confusion": "tables/bias__confusion.parquet",
        "clip/per_prompt": "tables/clip__per_prompt.parquet",
    }
    expected = {"run": RUN_INFO, "metrics": METRICS, "notes": NOTES, "tables": listed}
    assert json.loads((tmp_path / "summary.json").read_text()) == returned == expected
    assert RunDir(tmp_path).summary == Summary(run=RUN_INFO, metrics=METRICS, notes=tuple(NOTES), tables=listed)


def test_a_table_written_alone_reads_back_also_in_a_run_without_summary(tmp_path):
    table = TABLES["clip/per_prompt"]
    assert write_table(tmp_path, "clip/per_prompt", table) == tmp_path / "tables" / "clip__per_prompt.parquet"
    assert not RunDir(tmp_path).is_finished
    pd.testing.assert_frame_equal(RunDir(tmp_path).table("clip/per_prompt"), table)


def test_a_table_the_run_does_not_have_is_none(tmp_path):
    write_scored_run(tmp_path)
    assert RunDir(tmp_path).table("fid/groups") is None


def test_a_new_manifest_voids_the_scores_an_earlier_run_left_in_the_dir(tmp_path):
    write_scored_run(tmp_path / "run")
    write_manifest(tmp_path / "run", manifest_frame())
    run = RunDir(tmp_path / "run")
    assert not run.is_finished and not run.results_file.exists() and run.table("bias/confusion") is None
    pd.testing.assert_frame_equal(run.samples(), manifest_frame())


def test_samples_are_the_results_once_scored_and_the_manifest_before(tmp_path):
    write_manifest(tmp_path, manifest_frame())
    pd.testing.assert_frame_equal(RunDir(tmp_path).samples(), manifest_frame())
    write_results(tmp_path, scored(manifest_frame()), {}, {}, [], {})
    pd.testing.assert_frame_equal(RunDir(tmp_path).samples(), scored(manifest_frame()))


def test_the_summary_is_written_last_so_a_failed_write_leaves_no_finished_run(tmp_path):
    unwritable = pd.DataFrame({"mixed": [1, "one"]})  # parquet refuses a column of ints and text
    with pytest.raises(pa.ArrowInvalid, match="column mixed"):
        write_results(tmp_path, scored(manifest_frame()), METRICS, {"bad/table": unwritable}, [], RUN_INFO)
    assert not (tmp_path / "summary.json").exists()
    assert not RunDir(tmp_path).is_finished


def test_a_summary_that_is_not_json_is_named_in_the_error(tmp_path):
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(RunDirError, match=r"summary.json: not valid JSON"):
        RunDir(tmp_path).summary  # noqa: B018 (reading it is the test)


def test_hydra_config_and_overrides_are_read_from_dot_hydra(tmp_path):
    assert RunDir(tmp_path).hydra_config() is None and RunDir(tmp_path).hydra_overrides() is None
    (tmp_path / ".hydra").mkdir()
    # What Hydra writes before the job starts (the run dir only reads these).
    (tmp_path / ".hydra" / "config.yaml").write_text("sampler:\n  guidance_scale: 3.0\n  seed: 0\nscorers:\n- clip\n")
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- +suite=bias\n- sampler.guidance_scale=3\n")
    run = RunDir(tmp_path)
    assert run.hydra_config() == {"sampler": {"guidance_scale": 3.0, "seed": 0}, "scorers": ["clip"]}
    assert run.hydra_overrides() == ["+suite=bias", "sampler.guidance_scale=3"]
    assert run.hydra_config_file == tmp_path / ".hydra" / "config.yaml"


def test_the_saved_config_is_read_back_typed_with_the_schemas_defaults_for_what_it_leaves_out(tmp_path):
    assert RunDir(tmp_path).run_config() is None
    (tmp_path / ".hydra").mkdir()
    saved = "sampler:\n  guidance_scale: 5\nscorer:\n  clip:\n    batch_size: 4\nlogger:\n  mode: disabled\n"
    (tmp_path / ".hydra" / "config.yaml").write_text(saved)
    rc = RunDir(tmp_path).run_config()
    assert rc.sampler.guidance_scale == 5.0 and isinstance(rc.sampler.guidance_scale, float)
    assert rc.sampler == SamplerConfig(guidance_scale=5.0)
    assert rc.scorer.clip == ClipConfig(batch_size=4)
    assert rc.logger == WandbConfig(mode="disabled")


def test_a_saved_config_with_a_bad_value_is_refused_naming_it(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("sampler:\n  batch_size: many\n")
    with pytest.raises(RunDirError, match=r"config.yaml: .*'many'"):
        RunDir(tmp_path).run_config()


def test_overrides_parse_to_keys_and_yaml_scalars():
    overrides = [
        "+suite=bias",
        "++logger.mode=offline",
        "~scorer.fid",
        "sampler.guidance_scale=3",
        "sampler.upsample_temp=0.995",
        "sampler.base_steps=100",
        "scorers=[clip,bias]",
        "hydra.job.chdir=true",
    ]
    assert parse_overrides(overrides) == {
        "suite": "bias",
        "logger.mode": "offline",
        "sampler.guidance_scale": 3,
        "sampler.upsample_temp": 0.995,
        "sampler.base_steps": 100,
        "scorers": "[clip,bias]",
    }


# ---------------------------------------------------------------- discovery


def make_sweep(sweep_dir: Path, finished: list[int], unfinished: list[int]) -> None:
    for job in finished:
        write_scored_run(sweep_dir / str(job))
    for job in unfinished:  # sampled, then killed before scoring
        write_manifest(sweep_dir / str(job), manifest_frame())


def test_a_run_dir_is_discovered_as_itself(tmp_path):
    write_scored_run(tmp_path / "run")
    assert discover_run_dirs([tmp_path / "run"]) == [(tmp_path / "run").resolve()]


def test_a_sweep_dir_expands_to_its_finished_jobs_in_numeric_order(tmp_path, caplog):
    make_sweep(tmp_path / "sweep", finished=[10, 0, 2], unfinished=[1])
    (tmp_path / "sweep" / ".submitit").mkdir()  # not a job dir
    with caplog.at_level(logging.WARNING, logger="harness.run.rundir"):
        jobs = finished_job_dirs(tmp_path / "sweep")
    assert jobs == [tmp_path / "sweep" / name for name in ("0", "2", "10")]
    job = tmp_path / "sweep" / "1"
    assert [r.getMessage() for r in caplog.records] == [
        f"skipping {job}: no summary.json, the job did not finish (its log: {job / 'harness.log'})"
    ]
    assert discover_run_dirs([tmp_path / "sweep"]) == [p.resolve() for p in jobs]


def test_an_unfinished_job_is_named_once_however_often_the_sweep_is_read(tmp_path, caplog):
    make_sweep(tmp_path / "sweep", finished=[0], unfinished=[1])
    with caplog.at_level(logging.WARNING, logger="harness.run.rundir"):
        for _ in range(3):
            assert finished_job_dirs(tmp_path / "sweep") == [tmp_path / "sweep" / "0"]
    assert len(caplog.records) == 1


def write_shard_config(job_dir: Path, shard: str) -> None:
    (job_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    config = {"suite": {"name": "s"}, "runner": {"shard": shard, "stage": "all"}}
    (job_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))


def test_shards_scored_in_their_unions_run_or_done_with_their_part_are_not_called_unfinished(tmp_path, caplog):
    """Shards 1 and 2 of 3 wrote manifests only: shard 0's dir holds the union's scores. Of another plan's two
    shards, whose union is not scored, the one that wrote its manifest did its part; the other is named."""
    make_sweep(tmp_path / "sweep", finished=[0], unfinished=[1, 2, 3])
    for job, shard in ((0, "0/3"), (1, "1/3"), (2, "2/3"), (3, "0/2"), (4, "1/2")):
        write_shard_config(tmp_path / "sweep" / str(job), shard)
    config = yaml.safe_load((tmp_path / "sweep" / "3" / ".hydra" / "config.yaml").read_text())
    for job in (3, 4):  # another plan: another suite
        config["suite"]["name"] = "t"
        (tmp_path / "sweep" / str(job) / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    with caplog.at_level(logging.WARNING, logger="harness.run.rundir"):
        assert finished_job_dirs(tmp_path / "sweep") == [tmp_path / "sweep" / "0"]
    named = sorted(r.getMessage().split(":")[0] for r in caplog.records)
    assert named == [f"skipping {tmp_path / 'sweep' / '4'}"]


def test_a_job_asked_only_to_sample_is_done_with_its_manifest_and_not_called_unfinished(tmp_path, caplog):
    """runner.stage=sample writes the manifest and no summary (the scores come from `harness.cli.score`); a job of
    stage all with only a manifest was stopped before scoring and is named."""
    make_sweep(tmp_path / "sweep", finished=[], unfinished=[0, 1])
    for job, stage in ((0, "sample"), (1, "all")):
        write_shard_config(tmp_path / "sweep" / str(job), "0/1")
        config = yaml.safe_load((tmp_path / "sweep" / str(job) / ".hydra" / "config.yaml").read_text())
        config["runner"]["stage"] = stage
        (tmp_path / "sweep" / str(job) / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    with caplog.at_level(logging.WARNING, logger="harness.run.rundir"):
        assert finished_job_dirs(tmp_path / "sweep") == []
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [f"skipping {tmp_path / 'sweep' / '1'}"]


def write_submitit_job(sweep_dir: Path, job: int, job_id: str) -> Path:
    """A job dir whose .hydra/hydra.yaml holds the SLURM job id `job_id`, and that job's stderr file under the
    sweep dir's .submitit/ (where submitit keeps it, named for the job id)."""
    job_dir = sweep_dir / str(job)
    (job_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (job_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"id": job_id, "num": job}}}))
    err = sweep_dir / ".submitit" / job_id / f"{job_id}_0_log.err"
    err.parent.mkdir(parents=True)
    err.write_text("slurmstepd: error: *** JOB CANCELLED ***\n")
    return err


def test_under_slurm_an_unfinished_job_is_named_with_its_submitit_stderr(tmp_path, caplog):
    """Job 1 ran twice, as task 1 of array 7 and then of array 9: the log named is the one of the id its
    .hydra/hydra.yaml holds."""
    sweep = tmp_path / "sweep"
    make_sweep(sweep, finished=[0], unfinished=[])
    write_submitit_job(sweep, 1, "7_1")
    err = write_submitit_job(sweep, 1, "9_1")
    with caplog.at_level(logging.WARNING, logger="harness.run.rundir"):
        assert finished_job_dirs(sweep) == [sweep / "0"]
    (record,) = caplog.records
    assert record.getMessage() == f"skipping {sweep / '1'}: no summary.json, the job did not finish (its log: {err})"


def test_a_job_whose_submitit_stderr_is_not_there_is_named_with_its_harness_log(tmp_path):
    sweep = tmp_path / "sweep"
    err = write_submitit_job(sweep, 1, "9_1")
    err.unlink()
    assert job_log(sweep / "1") == sweep / "1" / "harness.log"
    assert job_log(sweep / "2") == sweep / "2" / "harness.log"


def test_run_dirs_named_twice_are_discovered_once(tmp_path):
    make_sweep(tmp_path / "sweep", finished=[0, 1], unfinished=[])
    found = discover_run_dirs([tmp_path / "sweep", tmp_path / "sweep" / "1"])
    assert found == [(tmp_path / "sweep" / job).resolve() for job in ("0", "1")]


def test_a_missing_path_is_named(tmp_path):
    with pytest.raises(RunDirError, match="nowhere: no such file or directory"):
        discover_run_dirs([tmp_path / "nowhere"])


def test_a_dir_with_no_finished_run_says_what_was_expected(tmp_path):
    make_sweep(tmp_path / "sweep", finished=[], unfinished=[0])
    with pytest.raises(RunDirError, match=r"not a run dir \(expected summary.json .*numbered run dirs"):
        discover_run_dirs([tmp_path / "sweep"])


def test_a_summary_without_samples_is_an_error(tmp_path):
    write_results(tmp_path / "run", scored(manifest_frame()), {}, {}, [], {})
    (tmp_path / "run" / "results.parquet").unlink()
    with pytest.raises(RunDirError, match="has summary.json but neither results.parquet nor manifest.parquet"):
        discover_run_dirs([tmp_path / "run"])
