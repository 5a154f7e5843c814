"""Sweeps through a real SLURM controller (hydra/launcher=slurm_cpu): sharded and swept jobs as sbatch arrays
on the one-node cluster of tests/cluster/slurm_up.sh, each union equal to the one-process run of its plan, byte
for byte; and a shard cancelled with scancel, named at the sweep's end with its log, completed by a rerun.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from cli_helpers import TINY, check, cli_env, command, run_cli

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SLURM_DIR = Path(os.environ.get("GLIDE_SLURM_DIR", "/var/tmp/glide-eval-slurm"))
SLURM_UP = "tests/cluster/slurm_up.sh"
PROMPTS = {"cube": "a red cube", "ball": "a blue ball", "cat": "a cat on a sofa", "dog": "a dog in the snow"}
GUIDANCE = ("3.0", "5.0")
SLURM = [
    "hydra/launcher=slurm_cpu",
    "hydra.launcher.partition=debug",
    "hydra.launcher.cpus_per_task=1",  # two jobs at once on the 2-CPU node
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
]
# Columns that name where a sample lies or how long it took: they differ between stores and processes.
LOCAL_COLUMNS = ["path_64", "path_256", "time_base_s", "time_up_s"]
PLANNED = re.compile(r"(\d+) samples planned: (\d+) base and (\d+) upsampled images to compute")


@pytest.fixture(scope="session")
def slurm_env() -> dict[str, str]:
    """What reaches the cluster slurm_up.sh started (.ci/run starts it); skips, saying why, without one."""
    if reason := os.environ.get("GLIDE_SLURM_UNAVAILABLE"):
        pytest.skip(f"no SLURM cluster: {reason}")
    conf = SLURM_DIR / "slurm.conf"
    if not conf.is_file():
        pytest.skip(f"no SLURM cluster: no {conf} (start one with {SLURM_UP})")
    env = {"SLURM_CONF": str(conf), "PATH": os.pathsep.join([str(SLURM_DIR / "bin"), os.environ["PATH"]])}
    try:
        sinfo = subprocess.run(["sinfo", "-h", "-o", "%T"], env={**os.environ, **env}, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"no SLURM cluster: sinfo failed ({err})")
    states = sinfo.stdout.decode().split()
    if sinfo.returncode != 0 or not states or states[0] not in ("idle", "mixed", "allocated"):
        said = (sinfo.stderr.decode().strip().splitlines() or states or ["no answer"])[-1]
        pytest.skip(f"no SLURM cluster: sinfo says {said} (start one with {SLURM_UP})")
    return env


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slurm")
    (path / "prompts.csv").write_text("id,text\n" + "".join(f"{pid},{text}\n" for pid, text in PROMPTS.items()))
    return path


@pytest.fixture(scope="module")
def env(root: Path, slurm_env: dict[str, str]) -> dict[str, str]:
    return {**cli_env(root / "home"), **slurm_env}


def suite_args(root: Path, store: str, *extra: str) -> list[str]:
    return [
        "+suite=file",
        f"suite.path={root / 'prompts.csv'}",
        *TINY,
        "scorers=[clip]",
        "logger=disabled",
        "sampler.samples_per_prompt=1",
        f"store.cache_dir={root / store}",
        *extra,
    ]


def sweep_args(root: Path, name: str, *extra: str) -> list[str]:
    return ["-m", *suite_args(root, f"store_{name}", *extra), *SLURM, f"hydra.sweep.dir={root / name}"]


@pytest.fixture(scope="module")
def one_process(root: Path, env: dict[str, str]) -> dict[str, SimpleNamespace]:
    """Per guidance scale, the suite run in this process alone: its results and its store."""
    runs = {}
    for scale in GUIDANCE:
        extra = [f"sampler.guidance_scale={scale}", f"hydra.run.dir={root / f'one_{scale}'}"]
        check(run_cli(suite_args(root, f"store_one_{scale}", *extra), cwd=root, env=env))
        results = pd.read_parquet(root / f"one_{scale}" / "results.parquet")
        runs[scale] = SimpleNamespace(results=results, store=root / f"store_one_{scale}")
    return runs


def png_bytes(*stores: Path) -> dict[str, bytes]:
    """Every PNG of the stores, by path relative to its store."""
    return {str(p.relative_to(store)): p.read_bytes() for store in stores for p in sorted(store.rglob("*.png"))}


def scored_rows(run_dir: Path) -> pd.DataFrame:
    results = pd.read_parquet(run_dir / "results.parquet")
    return results.drop(columns=LOCAL_COLUMNS).sort_values("key").reset_index(drop=True)


def assert_same_as_one_process(run_dir: Path, expected: SimpleNamespace) -> None:
    one = expected.results.drop(columns=LOCAL_COLUMNS).sort_values("key").reset_index(drop=True)
    pd.testing.assert_frame_equal(scored_rows(run_dir), one)
    assert len(one) == len(PROMPTS)


def union_dirs(sweep: Path) -> dict[str, Path]:
    """Guidance scale -> the job dir its union was scored into, from the sweep summary."""
    summary = pd.read_parquet(sweep / "sweep_summary.parquet")
    scales = summary.get("sampler.guidance_scale", pd.Series([GUIDANCE[0]] * len(summary)))
    return {f"{float(scale):.1f}": Path(run_dir) for scale, run_dir in zip(scales, summary["run_dir"], strict=True)}


@pytest.fixture(scope="module")
def four_shards(root: Path, env: dict[str, str]) -> SimpleNamespace:
    args = sweep_args(root, "shards", f"sampler.guidance_scale={GUIDANCE[0]}", "runner.shard=0/4,1/4,2/4,3/4")
    return SimpleNamespace(result=run_cli(args, cwd=root, env=env), sweep=root / "shards", store=root / "store_shards")


def test_four_shards_through_slurm_sample_the_pngs_of_one_process(four_shards, one_process):
    check(four_shards.result)
    expected = png_bytes(one_process[GUIDANCE[0]].store)
    assert png_bytes(four_shards.store) == expected and len(expected) == 2 * len(PROMPTS)


def test_four_shards_through_slurm_score_the_rows_of_one_process(four_shards, one_process):
    check(four_shards.result)
    assert list(union_dirs(four_shards.sweep)) == [GUIDANCE[0]]
    assert_same_as_one_process(union_dirs(four_shards.sweep)[GUIDANCE[0]], one_process[GUIDANCE[0]])


def test_the_shards_ran_as_one_slurm_array(four_shards):
    check(four_shards.result)
    ids = [saved_job_id(four_shards.sweep / str(job)) for job in range(4)]
    arrays = {job_id.split("_")[0] for job_id in ids}
    assert len(arrays) == 1 and sorted(job_id.split("_")[1] for job_id in ids) == ["0", "1", "2", "3"]


def test_a_slurm_sweeps_console_shows_the_harness_lines_not_each_jobs_launcher_line(four_shards):
    stdout = check(four_shards.result).stdout
    assert "scored the union of 4 shards" in stdout
    assert not [line for line in stdout.splitlines() if re.search(r"#\d+ : ", line)]


@pytest.fixture(scope="module")
def guidance_sweep(root: Path, env: dict[str, str]) -> SimpleNamespace:
    args = sweep_args(root, "guidance", f"sampler.guidance_scale={','.join(GUIDANCE)}", "runner.shard=0/2,1/2")
    return SimpleNamespace(
        result=run_cli(args, cwd=root, env=env), sweep=root / "guidance", store=root / "store_guidance"
    )


def test_a_guidance_sweep_of_two_shards_each_samples_the_pngs_of_one_process_runs(guidance_sweep, one_process):
    check(guidance_sweep.result)
    assert png_bytes(guidance_sweep.store) == png_bytes(*(one_process[scale].store for scale in GUIDANCE))


def test_a_guidance_sweep_of_two_shards_each_scores_the_rows_of_one_process_runs(guidance_sweep, one_process):
    check(guidance_sweep.result)
    unions = union_dirs(guidance_sweep.sweep)
    assert sorted(unions) == sorted(GUIDANCE)
    for scale in GUIDANCE:
        assert_same_as_one_process(unions[scale], one_process[scale])


def wait_for(condition: Callable[[], object], what: str, process: subprocess.Popen, timeout: float = 300) -> object:
    """Poll `condition` until it returns something true; fails if `process` ends or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        assert process.poll() is None, f"the sweep ended (exit {process.returncode}) before {what}"
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout} s")


def saved_job_id(job_dir: Path) -> str | None:
    """The SLURM id of the job that wrote `job_dir`, as Hydra saved it there (None before it did)."""
    saved = job_dir / ".hydra" / "hydra.yaml"
    # Hydra writes the file in place, so a read may see it part-written: that counts as not saved yet
    job = (yaml.safe_load(saved.read_text()) or {}).get("hydra", {}).get("job", {}) if saved.is_file() else {}
    return str(job["id"]) if job.get("id") is not None else None


def running_task_id(sweep: Path, task: int, env: dict[str, str]) -> str | None:
    """The SLURM id of the sweep's array task `task` once squeue says it is RUNNING (None before).

    submitit names a folder after the array's id when it submits, so the task is found long before its
    Python process has started, let alone finished: a cancel sent then lands mid-run however fast the job is.
    """
    arrays = [p.name for p in (sweep / ".submitit").glob("*") if p.name.isdigit()]
    if not arrays:
        return None
    (array,) = arrays
    job_id = f"{array}_{task}"
    squeue = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], env=env, capture_output=True, text=True)
    return job_id if squeue.stdout.strip() == "RUNNING" else None


def computed_base_images(job_dir: Path) -> list[int]:
    """Per run of the job, how many base images it computed (its harness.log collects every run's lines)."""
    return [int(m.group(2)) for m in PLANNED.finditer((job_dir / "harness.log").read_text())]


@pytest.fixture(scope="module")
def cancelled(root: Path, env: dict[str, str]) -> SimpleNamespace:
    """Two shards; shard 1 cancelled with scancel while it runs; then the same command again."""
    sweep = root / "cancel"
    args = sweep_args(root, sweep.name, f"sampler.guidance_scale={GUIDANCE[0]}", "runner.shard=0/2,1/2")
    out = SimpleNamespace(sweep=sweep, store=root / "store_cancel")
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with subprocess.Popen(command(args), cwd=root, env=env, **pipes) as first:
        try:
            out.job_id = wait_for(lambda: running_task_id(sweep, 1, env), "shard 1 running", first)
            subprocess.run(["scancel", out.job_id], env=env, check=True, timeout=30)
            stdout, stderr = first.communicate(timeout=300)
        finally:
            first.kill()
    out.first = subprocess.CompletedProcess(first.args, first.returncode, stdout, stderr)
    out.first_job1 = sorted(p.name for p in (sweep / "1").iterdir())
    out.base_pngs_after_cancel = len(list((out.store / "base").rglob("*.png")))
    out.second = run_cli(args, cwd=root, env=env)
    return out


def test_the_sweeps_end_names_the_cancelled_shard_once_with_its_slurm_log(cancelled):
    lines = [line for line in cancelled.first.stdout.splitlines() if "did not finish" in line]
    assert len(lines) == 1, cancelled.first.stdout
    err = cancelled.sweep / ".submitit" / cancelled.job_id / f"{cancelled.job_id}_0_log.err"
    assert f"skipping {cancelled.sweep / '1'}: " in lines[0] and f"(its log: {err})" in lines[0]
    assert "CANCELLED" in err.read_text()
    assert "manifest.parquet" not in cancelled.first_job1  # cancelled mid-run, before its samples were in


def test_a_sweep_with_a_cancelled_shard_exits_1_saying_to_rerun(cancelled):
    assert cancelled.first.returncode == 1
    assert cancelled.first.stderr.strip().splitlines()[-1] == (
        "error: 1 job of the sweep did not finish (named above); rerun the same command"
    )


def test_rerunning_the_sweep_completes_it_from_the_store(cancelled, one_process):
    check(cancelled.second)
    assert "did not finish" not in cancelled.second.stdout
    assert computed_base_images(cancelled.sweep / "0") == [2, 0]  # shard 0's samples are found the second time
    # shard 1 computes now exactly the base images the cancel left out of the store (it may have stored some or all)
    missing = len(PROMPTS) - cancelled.base_pngs_after_cancel  # one base image per prompt
    assert computed_base_images(cancelled.sweep / "1")[-1] == missing
    assert_same_as_one_process(cancelled.sweep / "0", one_process[GUIDANCE[0]])
    assert png_bytes(cancelled.store) == png_bytes(one_process[GUIDANCE[0]].store)
