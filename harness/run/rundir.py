"""The run dir's files: their names, writing them (each atomically) and reading them back as typed values.

The score step, the sweep summary, the report and the tests go through here; no other module names them.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.config.schema import RunConfig, sampler_columns, saved_config
from harness.errors import InputFileError
from harness.io import write_json, write_parquet

log = logging.getLogger(__name__)

MANIFEST = "manifest.parquet"
RESULTS = "results.parquet"
SUMMARY = "summary.json"
TABLES = "tables"
HYDRA_CONFIG = ".hydra/config.yaml"
HYDRA_OVERRIDES = ".hydra/overrides.yaml"
HYDRA_RUNTIME = ".hydra/hydra.yaml"
SUBMITIT_DIR = ".submitit"  # the submitit launchers' folder in a sweep dir: one folder per job, named for its id
SLURM_JOB_ID = "slurm_job_id"  # written by the SLURM launcher in the dir of a job that ended without a result

# The manifest's sampler parameters: the columns that may vary between the samples of one run (several
# seeds per prompt, a guidance list), and so the parameters a review can be swept over inside a run.
SAMPLER_COLUMNS = sampler_columns()


class RunDirError(InputFileError, ValueError):
    """A path is not the run dir or sweep dir it should be, or one of its files is unreadable; says which."""


def table_file(name: str) -> str:
    """Where scorer table `name` lies, relative to the run dir: `bias/confusion` -> `tables/bias__confusion.parquet`."""
    return f"{TABLES}/" + name.replace("/", "__") + ".parquet"


# ---------------------------------------------------------------- writing


def write_manifest(run_dir: Path, frame: pd.DataFrame) -> Path:
    """The samples of the run, one row each (written as soon as they are all in the store). Scores an earlier
    run left in the dir go first, summary.json before the rest: they are not this manifest's (a rerun sweep's
    shard that waits for its union must not pass for the union scored the first time)."""
    run_dir = Path(run_dir)
    for stale in (run_dir / SUMMARY, run_dir / RESULTS):
        stale.unlink(missing_ok=True)
    shutil.rmtree(run_dir / TABLES, ignore_errors=True)
    path = run_dir / MANIFEST
    write_parquet(path, frame)
    return path


def write_table(run_dir: Path, name: str, table: pd.DataFrame) -> Path:
    """Scorer table `name` of the run, at table_file(name)."""
    path = Path(run_dir) / table_file(name)
    write_parquet(path, table)
    return path


def write_results(
    run_dir: Path,
    results: pd.DataFrame,
    metrics: Mapping[str, float | None],
    tables: Mapping[str, pd.DataFrame],
    notes: Sequence[str],
    run_info: Mapping[str, Any],
) -> dict[str, Any]:
    """Write the scored run, tables first and summary.json last (its presence means the run is complete)."""
    run_dir = Path(run_dir)
    for name, table in tables.items():
        write_table(run_dir, name, table)
    write_parquet(run_dir / RESULTS, results)
    summary = {
        "run": dict(run_info),
        "metrics": dict(metrics),
        "notes": list(notes),
        "tables": {name: table_file(name) for name in tables},
    }
    write_json(run_dir / SUMMARY, summary)
    return summary


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Summary:
    """summary.json: the run's info (config, overrides, model), its metrics, notes and table files."""

    run: dict[str, Any]
    metrics: dict[str, float | None]
    notes: tuple[str, ...]
    tables: dict[str, str]


@dataclass(frozen=True)
class RunDir:
    """One run dir on disk; each file is read when asked for (the summary once)."""

    path: Path

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST

    @property
    def results_file(self) -> Path:
        return self.path / RESULTS

    @property
    def summary_file(self) -> Path:
        return self.path / SUMMARY

    @property
    def hydra_config_file(self) -> Path:
        return self.path / HYDRA_CONFIG

    @property
    def hydra_overrides_file(self) -> Path:
        return self.path / HYDRA_OVERRIDES

    @property
    def is_finished(self) -> bool:
        """Whether the run wrote its summary, the last file of a run."""
        return self.summary_file.is_file()

    @property
    def has_samples(self) -> bool:
        return self.results_file.is_file() or self.manifest_file.is_file()

    @cached_property
    def summary(self) -> Summary:
        try:
            data = json.loads(self.summary_file.read_text())
        except json.JSONDecodeError as err:
            raise RunDirError(f"{self.summary_file}: not valid JSON ({err})") from err
        return Summary(
            run=dict(data.get("run") or {}),
            metrics=dict(data.get("metrics") or {}),
            notes=tuple(data.get("notes") or ()),
            tables=dict(data.get("tables") or {}),
        )

    def manifest(self) -> pd.DataFrame:
        return pd.read_parquet(self.manifest_file)

    def results(self) -> pd.DataFrame:
        return pd.read_parquet(self.results_file)

    def samples(self) -> pd.DataFrame:
        """The scored samples, or the manifest of a run that was not scored (yet)."""
        return self.results() if self.results_file.is_file() else self.manifest()

    def table(self, name: str) -> pd.DataFrame | None:
        """Scorer table `name` (e.g. 'bias/distribution') where the summary lists it, else at its usual
        place; None when the run has none."""
        listed = self.summary.tables if self.is_finished else {}
        path = self.path / listed.get(name, table_file(name))
        return pd.read_parquet(path) if path.is_file() else None

    def hydra_config(self) -> dict[str, Any] | None:
        """The config Hydra composed for the run (nested), or None without .hydra/."""
        return _yaml_file(self.hydra_config_file)

    def run_config(self) -> RunConfig | None:
        """The saved config typed as the job's was (every node's value checks run), or None without .hydra/."""
        if not self.hydra_config_file.is_file():
            return None
        try:
            return OmegaConf.to_object(saved_config(OmegaConf.load(self.hydra_config_file)))
        except OmegaConfBaseException as err:
            raise RunDirError(f"{self.hydra_config_file}: {str(err).splitlines()[0]}") from err

    def hydra_overrides(self) -> list[str] | None:
        """The command-line overrides Hydra recorded for the run, or None without .hydra/."""
        return _yaml_file(self.hydra_overrides_file)


def _yaml_file(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def parse_overrides(overrides: Iterable[str]) -> dict[str, object]:
    """`sampler.guidance_scale=3` -> {'sampler.guidance_scale': 3}; Hydra's +, ++ and ~ prefixes dropped."""
    parsed: dict[str, object] = {}
    for item in overrides:
        key, sep, value = str(item).partition("=")
        key = key.lstrip("+~")
        if sep and not key.startswith("hydra."):
            parsed[key] = _override_value(value)
    return parsed


def _override_value(text: str) -> object:
    # Hydra's override grammar agrees with YAML on scalars; lists, sweeps and interpolations stay text.
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, str)) else text


# ---------------------------------------------------------------- discovery


def discover_run_dirs(paths: Iterable[Path]) -> list[Path]:
    """Expand run dirs and multirun sweep dirs (numbered run dirs inside) into the list of run dirs."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            raise RunDirError(f"{raw}: no such file or directory")
        if RunDir(path).is_finished:
            found.append(_checked_run_dir(path))
            continue
        jobs = finished_job_dirs(path) if path.is_dir() else []
        if not jobs:
            raise RunDirError(
                f"{raw}: not a run dir (expected {SUMMARY} with {RESULTS} or {MANIFEST}) "
                f"nor a multirun sweep dir (expected numbered run dirs 0/, 1/, ... with {SUMMARY})"
            )
        found.extend(jobs)
    return list(dict.fromkeys(found))


def finished_job_dirs(sweep_dir: Path) -> list[Path]:
    """The numbered job dirs of a sweep dir that hold a summary.json, in job order. A shard whose union was
    scored into its lowest shard's dir is part of that run, and one that wrote its manifest did its part (the
    score step names a union it cannot score), as did a job that was asked only to sample; any other job without
    a summary is named once, with its log."""
    numbered = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    jobs = [p for p in numbered if RunDir(p).is_finished]
    unions = shard_unions(sweep_dir)
    for skipped in sorted(set(numbered) - set(jobs), key=lambda p: int(p.name)):
        lowest = unions.get(skipped)
        if lowest is not None and (RunDir(lowest).is_finished or RunDir(skipped).manifest_file.is_file()):
            continue  # its samples are scored in `lowest`, or sampled and waiting for the union's score step
        if _sampled_only(skipped):
            continue  # runner.stage=sample: done when its manifest is written; `harness.cli.score` scores it
        if skipped.resolve() not in _NAMED_UNFINISHED:
            _NAMED_UNFINISHED.add(skipped.resolve())
            log.warning("skipping %s: no %s, the job did not finish (its log: %s)", skipped, SUMMARY, job_log(skipped))
    return [_checked_run_dir(p) for p in jobs]


def _sampled_only(job_dir: Path) -> bool:
    """A job of runner.stage=sample that wrote its manifest: it did all it was asked to."""
    run = RunDir(job_dir)
    return run.manifest_file.is_file() and ((run.hydra_config() or {}).get("runner") or {}).get("stage") == "sample"


# Job dirs already named as unfinished by this process: a sweep's end reads its job dirs several times.
_NAMED_UNFINISHED: set[Path] = set()


def named_unfinished() -> list[Path]:
    """The job dirs this process has named as unfinished (a sweep whose end named one did not complete)."""
    return sorted(_NAMED_UNFINISHED)


def job_log(job_dir: Path) -> Path:
    """Where to read why a job stopped: under SLURM the stderr file submitit keeps for the job (tracebacks, and
    SLURM's own line when it cancelled or timed the job out), found by the job id Hydra saved in the job's
    .hydra/hydra.yaml or, for a job stopped before that, the one the launcher left in the job dir; otherwise
    the job's harness.log."""
    saved = _yaml_file(job_dir / HYDRA_RUNTIME) or {}
    job_id = str(((saved.get("hydra") or {}).get("job") or {}).get("id") or "")
    if not job_id and (job_dir / SLURM_JOB_ID).is_file():  # cancelled before Hydra saved its config
        job_id = (job_dir / SLURM_JOB_ID).read_text().strip()
    submitit_log = job_dir.parent / SUBMITIT_DIR / job_id / f"{job_id}_0_log.err"
    return submitit_log if job_id and submitit_log.is_file() else job_dir / "harness.log"


def shard_groups(sweep_dir: Path) -> list[list[tuple[int, Path]]]:
    """The job dirs of the sweep's sharded plans (runner.shard I/N, N > 1): one list of (I, job dir) per plan,
    a plan being the saved config without `runner.shard`."""
    groups: dict[str, list[tuple[int, Path]]] = {}
    for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()):
        saved = RunDir(job_dir).hydra_config()
        if not saved:
            continue
        runner = dict(saved.get("runner") or {})
        index, _, count = str(runner.pop("shard", "0/1")).partition("/")
        if not (index.isdigit() and count.isdigit()) or int(count) < 2:
            continue
        plan = json.dumps({**saved, "runner": runner}, sort_keys=True, default=str)
        groups.setdefault(plan, []).append((int(index), job_dir))
    return list(groups.values())


def shard_unions(sweep_dir: Path) -> dict[Path, Path]:
    """Each job dir of a sharded plan mapped to the lowest shard's job dir of the same plan, where the union of
    the shards is scored."""
    return {job_dir: min(group)[1] for group in shard_groups(sweep_dir) for _, job_dir in group}


def _checked_run_dir(path: Path) -> Path:
    if not RunDir(path).has_samples:
        raise RunDirError(f"{path}: has {SUMMARY} but neither {RESULTS} nor {MANIFEST}")
    return path
