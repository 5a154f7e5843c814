"""The runs a report reviews, read from their run dirs: a Study of Runs with its samples stacked in one table.

Also which parameters the study sweeps: overrides that differ between runs, sampler columns that vary inside.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.analysis.comparisons import paired_comparisons
from harness.analysis.findings import Finding, finding_from_config, findings
from harness.analysis.metric_names import is_ci_bound
from harness.analysis.values import format_value, plain, sorted_values
from harness.errors import InputFileError
from harness.io import finite_or_none
from harness.run.rundir import SAMPLER_COLUMNS, RunDir, RunDirError, parse_overrides
from harness.run.rundir import discover_run_dirs as _discover_run_dirs

# Seeds are replicates: they get an image grid; metrics average over them and are not plotted against them.
REPLICATE_COLUMN = "seed"
PARAM_PREFIX = "param:"  # stacked-samples column holding a between-run parameter's value
UNSET = "(unset)"

PathArg = str | os.PathLike | Sequence[str | os.PathLike]


class StudyInputError(InputFileError, ValueError):
    """A path, option or file is not what a study (or its report) expects; the message names it and what was
    expected."""


@dataclass(frozen=True)
class Run:
    """One run dir as read from disk."""

    files: RunDir = field(repr=False)
    label: str
    model_id: str
    random_weights: bool | None
    overrides: dict[str, object]
    override_list: tuple[str, ...]
    config: dict[str, object]
    metrics: dict[str, float | None]
    notes: tuple[str, ...]
    samples: pd.DataFrame = field(repr=False)

    @property
    def path(self) -> Path:
        return self.files.path

    def table(self, name: str) -> pd.DataFrame | None:
        """The scorer table `name` (e.g. 'bias/distribution'), or None when the run has none."""
        return self.files.table(name)


@dataclass(frozen=True)
class SweptParameter:
    """A parameter whose value differs between runs (an override key) or between rows of one run."""

    name: str
    column: str
    values: tuple
    between_runs: bool

    @property
    def held_value(self) -> object:
        """The value this parameter is held at while another one is swept: the middle of its sorted values."""
        return self.values[(len(self.values) - 1) // 2]


@dataclass(frozen=True)
class Study:
    """Runs reviewed together, their samples stacked in one table with one column per swept parameter."""

    runs: tuple[Run, ...]
    samples: pd.DataFrame = field(repr=False)
    parameters: tuple[SweptParameter, ...]

    @property
    def plot_parameters(self) -> tuple[SweptParameter, ...]:
        return tuple(p for p in self.parameters if p.name != REPLICATE_COLUMN)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Summary metric names of all runs in first-seen order, CI bounds excluded (they draw the bands)."""
        names = dict.fromkeys(m for run in self.runs for m in run.metrics if not is_ci_bound(m))
        return tuple(names)

    def asked_for(self, scorer: str) -> bool:
        """Whether some run was composed with `scorer` in its `scorers` list (a run that records no list counts
        as asking for every scorer)."""
        for run in self.runs:
            listed = run.config.get("scorers")
            if not isinstance(listed, (list, tuple)) or scorer in listed:
                return True
        return False

    @property
    def score_columns(self) -> tuple[str, ...]:
        """Per-sample score columns `<scorer>.<column>` (deeper names such as `bias.p.church` excluded)."""
        return tuple(c for c in self.samples.columns if _is_score_column(c))


# ---------------------------------------------------------------- discovery and loading


def as_paths(paths: PathArg) -> list[Path]:
    """One path or several as a non-empty list of Paths."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise StudyInputError("no path given: expected a run dir or a multirun sweep dir")
    return [Path(p) for p in items]


def discover_run_dirs(paths: PathArg) -> list[Path]:
    """Expand run dirs and multirun sweep dirs (numbered run dirs inside) into the list of run dirs."""
    try:
        return _discover_run_dirs(as_paths(paths))
    except RunDirError as err:
        raise StudyInputError(str(err)) from err


def load_study(paths: PathArg) -> Study:
    """Read every run under `paths` and find the swept parameters."""
    run_dirs = discover_run_dirs(paths)
    labels = _run_labels(run_dirs)
    runs = tuple(load_run(path, label) for path, label in zip(run_dirs, labels, strict=True))
    between = _between_run_parameters(runs)
    stacked = pd.concat([_with_run_columns(run, between) for run in runs], ignore_index=True)
    within = _within_run_parameters(runs)
    return Study(runs=runs, samples=stacked, parameters=tuple(between + within))


def _run_labels(run_dirs: Sequence[Path]) -> list[str]:
    if len(run_dirs) == 1:
        return [run_dirs[0].name]
    root = Path(os.path.commonpath(run_dirs))
    return [p.relative_to(root.parent).as_posix() if p != root else p.name for p in run_dirs]


def load_run(path: Path, label: str | None = None) -> Run:
    """Read one run dir (its summary and results, or its manifest when it was not scored)."""
    files = RunDir(path)
    try:
        summary = files.summary
    except RunDirError as err:
        raise StudyInputError(str(err)) from err
    info = summary.run
    override_list = tuple(info.get("overrides") or files.hydra_overrides() or ())
    config = info.get("config") or _flatten(files.hydra_config() or {})
    return Run(
        files=files,
        label=label or path.name,
        model_id=str(info.get("model_id") or config.get("model.name") or "unknown"),
        random_weights=info.get("random_weights"),
        overrides=parse_overrides(override_list),
        override_list=override_list,
        config=config,
        metrics={k: finite_or_none(v) for k, v in summary.metrics.items()},
        notes=summary.notes,
        samples=_resolved_image_paths(files.samples(), path),
    )


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _resolved_image_paths(samples: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    samples = samples.copy()
    for column in ("path_64", "path_256"):
        if column in samples:
            samples[column] = [str(run_dir / p) if isinstance(p, str) else None for p in samples[column]]
    return samples


def _is_score_column(name: str) -> bool:
    return not name.startswith(("tag.", PARAM_PREFIX)) and name.count(".") == 1


# ---------------------------------------------------------------- swept parameters


def _between_run_parameters(runs: Sequence[Run]) -> list[SweptParameter]:
    keys = dict.fromkeys(k for run in runs for k in run.overrides)
    params = []
    for key in keys:
        values = [run.overrides.get(key, UNSET) for run in runs]
        if len(set(map(plain, values))) > 1:
            params.append(SweptParameter(key, f"{PARAM_PREFIX}{key}", sorted_values(values), between_runs=True))
    return params


def _within_run_parameters(runs: Sequence[Run]) -> list[SweptParameter]:
    params = []
    for column in SAMPLER_COLUMNS:
        varies = any(column in run.samples and run.samples[column].nunique() > 1 for run in runs)
        if varies:
            values = [v for run in runs if column in run.samples for v in run.samples[column]]
            params.append(SweptParameter(column, column, sorted_values(values), between_runs=False))
    return params


def _with_run_columns(run: Run, between: Sequence[SweptParameter]) -> pd.DataFrame:
    samples = run.samples.copy()
    samples["run"] = run.label
    for param in between:
        samples[param.column] = [run.overrides.get(param.name, UNSET)] * len(samples)
    return samples


def run_settings(study: Study, run: Run) -> str:
    """The run's values of the parameters swept between runs, e.g. `sampler.guidance_scale=3`."""
    params = [p for p in study.parameters if p.between_runs]
    return ", ".join(f"{p.name}={format_value(run.overrides.get(p.name, UNSET))}" for p in params)


# What analysis computes from a study: the paired comparisons of its cells and its findings.


def study_comparisons(study: Study) -> pd.DataFrame:
    """Paired comparisons of the study's cells: each per-sample score, adjacent values of each parameter."""
    params = [(p.name, p.column) for p in study.plot_parameters]
    extra = [m for m in finding_metrics(study) if m not in study.score_columns]
    samples = study.samples.assign(
        **{m: pd.array(study.samples[m]).to_numpy(dtype="float64", na_value=float("nan")) for m in extra}
    )
    return paired_comparisons(samples, params, [*study.score_columns, *extra])


def finding_metrics(study: Study) -> list[str]:
    """The per-sample score columns the study's findings name, so the paired comparisons cover them."""
    names: dict[str, None] = {}
    for run in study.runs:
        finding = finding_from_config(run.config)
        if finding is not None:
            names.update(dict.fromkeys(m for m in finding.metrics if "/" not in m and m in study.samples.columns))
    return list(names)


def study_findings(study: Study) -> list[Finding]:
    """The Findings rows of every distinct (claim, finding) among the study's runs."""
    groups: dict[tuple, list] = {}
    for run in study.runs:
        finding = finding_from_config(run.config)
        if finding is not None:
            claim = str(run.config.get("note") or "")
            groups.setdefault((claim, repr(finding)), [finding, []])[1].append(run)
    rows: list[Finding] = []
    for (claim, _), (finding, runs) in groups.items():
        rows += findings(
            finding,
            claim,
            samples=study.samples[study.samples["run"].isin([run.label for run in runs])],
            runs=[{"metrics": run.metrics, "overrides": run.overrides, "config": run.config} for run in runs],
            random_weights=any(bool(run.random_weights) for run in runs),
        )
    return rows
