"""Offline review of runs and sweeps: one self-contained HTML file with image grids, metric plots and tables.
Reads only the run-dir contract on disk (summary.json, results/manifest parquet, tables/); W&B is optional.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import jinja2
import matplotlib
import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from PIL import Image
from scipy import stats

from harness.io import write_atomic

matplotlib.use("Agg")

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates"
BIAS_PRED_COLUMN = "bias.pred"
BIAS_TABLES = {"distribution": "bias/distribution", "confusion": "bias/confusion"}
# Sampler columns of the samples table that may vary inside one run (e.g. several seeds per prompt).
SAMPLER_COLUMNS = ("guidance_scale", "base_steps", "upsample_steps", "upsample_temp", "seed")
# Seeds are replicates: they get an image grid; metrics average over them and are not plotted against them.
REPLICATE_COLUMN = "seed"
CI_SUFFIXES = ("_ci_low", "_ci_high")
# Scorers name a metric of one subset `<stem>[<group>]`, e.g. `bias/share[class=church]`, `fid/fid[tag.style=ink]`;
# its CI bounds are `<stem>_ci_low[<group>]` and `<stem>_ci_high[<group>]`.
GROUPED_METRIC = re.compile(r"^(?P<stem>[^\[]+)\[(?P<group>[^\]]*)\]$")
PARAM_PREFIX = "param:"  # stacked-samples column holding a between-run parameter's value


class ReportInputError(ValueError):
    """A path, option or file is not what the report expects; the message names it and what was expected."""


class WandbReportError(RuntimeError):
    """The optional W&B report could not be created (no login, offline, package missing); one-line message."""


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of the report; defaults are the ones the CLI and the Hydra callback use."""

    thumb_size: int = 128
    thumb_quality: int = 85
    images_per_bar: int = 12
    ci_level: float = 0.95
    plot_dpi: int = 100
    expected_scorers: tuple[str, ...] = ("clip", "fid", "bias")

    def __post_init__(self) -> None:
        if not 16 <= self.thumb_size <= 1024:
            raise ReportInputError(f"thumb_size must be between 16 and 1024 pixels, got {self.thumb_size}")
        if self.images_per_bar < 0:
            raise ReportInputError(f"images_per_bar must be >= 0, got {self.images_per_bar}")
        if not 0.0 < self.ci_level < 1.0:
            raise ReportInputError(f"ci_level must be in (0, 1), got {self.ci_level}")


@dataclass(frozen=True)
class Run:
    """One run dir as read from disk."""

    path: Path
    label: str
    model_id: str
    random_weights: bool | None
    overrides: dict[str, object]
    override_list: tuple[str, ...]
    config: dict[str, object]
    metrics: dict[str, float | None]
    notes: tuple[str, ...]
    tables: dict[str, Path]
    samples: pd.DataFrame = field(repr=False)

    def table(self, name: str) -> pd.DataFrame | None:
        """The scorer table `name` (e.g. 'bias/distribution'), or None when the run has none."""
        path = self.tables.get(name, self.path / "tables" / f"{name.replace('/', '__')}.parquet")
        return pd.read_parquet(path) if path.is_file() else None


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

    @property
    def score_columns(self) -> tuple[str, ...]:
        """Per-sample score columns `<scorer>.<column>` (deeper names such as `bias.p.church` excluded)."""
        return tuple(c for c in self.samples.columns if _is_score_column(c))


@dataclass(frozen=True)
class Series:
    """One line of a metric plot: y against x with an optional CI band (None where a bound is unknown)."""

    label: str
    x: tuple
    y: tuple[float, ...]
    low: tuple[float | None, ...]
    high: tuple[float | None, ...]


@dataclass(frozen=True)
class PlotFile:
    """A plot PNG written for the report (and for W&B), with what it shows."""

    name: str
    path: Path
    kind: str
    metric: str = ""
    parameter: str = ""
    run: str = ""


# ---------------------------------------------------------------- discovery and loading


PathArg = str | os.PathLike | Sequence[str | os.PathLike]


def as_paths(paths: PathArg) -> list[Path]:
    """One path or several as a non-empty list of Paths."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise ReportInputError("no path given: expected a run dir or a multirun sweep dir")
    return [Path(p) for p in items]


def discover_run_dirs(paths: PathArg) -> list[Path]:
    """Expand run dirs and multirun sweep dirs (numbered run dirs inside) into the list of run dirs."""
    found: list[Path] = []
    for raw in as_paths(paths):
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            raise ReportInputError(f"{raw}: no such file or directory")
        if (path / "summary.json").is_file():
            found.append(_checked_run_dir(path))
            continue
        jobs = finished_job_dirs(path) if path.is_dir() else []
        if not jobs:
            raise ReportInputError(
                f"{raw}: not a run dir (expected summary.json with results.parquet or manifest.parquet) "
                "nor a multirun sweep dir (expected numbered run dirs 0/, 1/, ... with summary.json)"
            )
        found.extend(jobs)
    return list(dict.fromkeys(found))


def finished_job_dirs(path: Path) -> list[Path]:
    """The numbered job dirs of a sweep dir that hold a summary.json, in job order; the others are logged."""
    numbered = sorted((p for p in path.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    jobs = [p for p in numbered if (p / "summary.json").is_file()]
    for skipped in sorted(set(numbered) - set(jobs)):
        log.warning("skipping %s: no summary.json (the job did not finish?)", skipped)
    return [_checked_run_dir(p) for p in jobs]


def _checked_run_dir(path: Path) -> Path:
    if not any((path / name).is_file() for name in ("results.parquet", "manifest.parquet")):
        raise ReportInputError(f"{path}: has summary.json but neither results.parquet nor manifest.parquet")
    return path


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
    """Read one run dir (summary.json + results.parquet, or manifest.parquet when it was not scored)."""
    try:
        summary = json.loads((path / "summary.json").read_text())
    except json.JSONDecodeError as err:
        raise ReportInputError(f"{path / 'summary.json'}: not valid JSON ({err})") from err
    info = summary.get("run", {})
    samples_file = path / "results.parquet"
    if not samples_file.is_file():
        samples_file = path / "manifest.parquet"
    samples = pd.read_parquet(samples_file)
    override_list = tuple(info.get("overrides") or _hydra_yaml(path / ".hydra" / "overrides.yaml") or ())
    config = info.get("config") or _flatten(_hydra_yaml(path / ".hydra" / "config.yaml") or {})
    return Run(
        path=path,
        label=label or path.name,
        model_id=str(info.get("model_id") or config.get("model.name") or "unknown"),
        random_weights=info.get("random_weights"),
        overrides=parse_overrides(override_list),
        override_list=override_list,
        config=config,
        metrics={k: _as_number(v) for k, v in (summary.get("metrics") or {}).items()},
        notes=tuple(summary.get("notes") or ()),
        tables={name: path / rel for name, rel in (summary.get("tables") or {}).items()},
        samples=_resolved_image_paths(samples, path),
    )


def _hydra_yaml(path: Path) -> object:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


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


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def _resolved_image_paths(samples: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    samples = samples.copy()
    for column in ("path_64", "path_256"):
        if column in samples:
            samples[column] = [str(run_dir / p) if isinstance(p, str) else None for p in samples[column]]
    return samples


def _is_score_column(name: str) -> bool:
    return not name.startswith(("tag.", PARAM_PREFIX)) and name.count(".") == 1


# ---------------------------------------------------------------- swept parameters

UNSET = "(unset)"


def _between_run_parameters(runs: Sequence[Run]) -> list[SweptParameter]:
    keys = dict.fromkeys(k for run in runs for k in run.overrides)
    params = []
    for key in keys:
        values = [run.overrides.get(key, UNSET) for run in runs]
        if len(set(map(_hashable, values))) > 1:
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


def _hashable(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def sorted_values(values: Iterable[object]) -> tuple:
    """Distinct values, numbers first in numeric order, then text in alphabetical order."""

    def order(value: object) -> tuple:
        number = _as_number(value)
        return (0, number, "") if number is not None else (1, 0.0, str(value))

    return tuple(sorted({_hashable(v) for v in values}, key=order))


def _is_numeric(values: Sequence[object]) -> bool:
    return all(_as_number(v) is not None for v in values)


def format_value(value: object) -> str:
    """Numbers with 4 significant digits, everything else as text; None as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


# ---------------------------------------------------------------- statistics for the plots


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean and Student-t confidence interval of the mean; no interval for fewer than two values."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return math.nan, None, None
    mean = float(data.mean())
    if data.size < 2:
        return mean, None, None
    half = float(stats.t.ppf((1 + level) / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return mean, mean - half, mean + half


def split_metric(metric: str) -> tuple[str, str | None]:
    """`bias/share[class=church]` -> ('bias/share', 'class=church'); an ungrouped name -> (name, None)."""
    match = GROUPED_METRIC.match(metric)
    return (match["stem"], match["group"]) if match else (metric, None)


def is_ci_bound(metric: str) -> bool:
    return split_metric(metric)[0].endswith(CI_SUFFIXES)


def is_count(metric: str) -> bool:
    """Sample counts (`clip/n`, `bias/n_probe`, `bias/probe_n`, `fid/n[...]`) go in the table, not in plots."""
    leaf = split_metric(metric)[0].rsplit("/", 1)[-1]
    return leaf == "n" or leaf.startswith("n_") or leaf.endswith("_n")


def ci_names(metric: str) -> tuple[tuple[str, str], ...]:
    """Candidate (low, high) names of a metric's CI bounds, also with a `_mean` suffix of the stem dropped."""
    stem, group = split_metric(metric)
    suffix = "" if group is None else f"[{group}]"
    stems = dict.fromkeys((stem, stem.removesuffix("_mean")))
    return tuple((f"{s}_ci_low{suffix}", f"{s}_ci_high{suffix}") for s in stems)


def _metric_ci(run: Run, metric: str) -> tuple[float | None, float | None]:
    for low, high in ci_names(metric):
        if low in run.metrics or high in run.metrics:
            return run.metrics.get(low), run.metrics.get(high)
    return None, None


def metric_series(study: Study, metric: str, param: SweptParameter) -> list[Series]:
    """A summary metric against a between-run parameter, one line per setting of the other parameters."""
    others = [p for p in study.parameters if p.between_runs and p is not param]
    lines: dict[str, list[tuple]] = {}
    for run in study.runs:
        value = run.metrics.get(metric)
        if value is None:
            continue
        label = ", ".join(f"{p.name}={format_value(run.overrides.get(p.name, UNSET))}" for p in others)
        low, high = _metric_ci(run, metric)
        lines.setdefault(label or metric, []).append((run.overrides.get(param.name, UNSET), value, low, high))
    return [_series(label, points, param) for label, points in lines.items()]


def held_runs(study: Study, param: SweptParameter) -> list[Run]:
    """Runs whose other between-run parameters sit at their held (middle) values."""
    others = [p for p in study.parameters if p.between_runs and p is not param]
    return [run for run in study.runs if all(run.overrides.get(p.name, UNSET) == p.held_value for p in others)]


def group_series(study: Study, stem: str, param: SweptParameter) -> list[Series]:
    """A grouped metric `<stem>[<group>]` against a between-run parameter, one line per group (say, one per
    class of `bias/share`), the other swept parameters held at their middle values."""
    lines: dict[str, list[tuple]] = {}
    for run in held_runs(study, param):
        for metric, value in run.metrics.items():
            metric_stem, group = split_metric(metric)
            if metric_stem == stem and group is not None and value is not None and not is_ci_bound(metric):
                low, high = _metric_ci(run, metric)
                lines.setdefault(group, []).append((run.overrides.get(param.name, UNSET), value, low, high))
    return [_series(label, points, param) for label, points in lines.items()]


def score_series(study: Study, column: str, param: SweptParameter, level: float = 0.95) -> list[Series]:
    """A per-sample score's mean (t-interval band) against a parameter that varies inside runs, per run."""
    series = []
    for run_label, rows in study.samples.groupby("run", sort=False):
        if column not in rows or param.column not in rows:
            continue
        points = []
        for value, group in rows.groupby(param.column, sort=False):
            scores = pd.to_numeric(group[column], errors="coerce").dropna()
            if len(scores):
                points.append((_hashable(value), *mean_ci(scores.to_numpy(), level)))
        if points:
            series.append(_series(str(run_label), points, param))
    return series


def _series(label: str, points: list[tuple], param: SweptParameter) -> Series:
    position = {v: i for i, v in enumerate(param.values)}
    points = sorted(points, key=lambda p: position.get(p[0], len(position)))
    x, y, low, high = zip(*points, strict=True)
    return Series(label=label, x=x, y=tuple(map(float, y)), low=low, high=high)


# ---------------------------------------------------------------- files


class ThumbnailStore:
    """JPEG thumbnails of sample PNGs, named by content key and size; made once, reused by later reports."""

    def __init__(self, folder: Path, size: int, quality: int) -> None:
        self.folder, self.size, self.quality = folder, size, quality
        self._made: dict[str, Path | None] = {}

    def thumbnail(self, key: str, source: str | None) -> Path | None:
        """Path of the thumbnail of `source`, or None (logged) when the image file is missing."""
        if key not in self._made:
            self._made[key] = self._make(key, source)
        return self._made[key]

    def _make(self, key: str, source: str | None) -> Path | None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        target = self.folder / f"{safe}_{self.size}.jpg"
        if target.is_file():
            return target
        if not source or not os.path.isfile(source):
            log.warning("sample %s: image file %s is missing; the report shows a placeholder", key, source)
            return None
        with Image.open(source) as image:
            image = image.convert("RGB")
            image.thumbnail((self.size, self.size), Image.Resampling.BICUBIC)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=self.quality)
        write_atomic(target, buffer.getvalue())
        return target


# ---------------------------------------------------------------- plots


def _save_figure(fig: Figure, path: Path, dpi: int) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def draw_series(
    series: Sequence[Series], *, metric: str, param: SweptParameter, ci_level: float, held: str = ""
) -> Figure:
    """Lines with markers and shaded CI bands; categorical x positions when the parameter is not numeric."""
    fig = Figure(figsize=(4.8, 3.2))
    ax = fig.add_subplot()
    numeric = _is_numeric(param.values)
    position = {v: i for i, v in enumerate(param.values)}
    for line in series:
        x = [float(v) if numeric else position[v] for v in line.x]
        (drawn,) = ax.plot(x, line.y, marker="o", label=line.label)
        band = [(xi, lo, hi) for xi, lo, hi in zip(x, line.low, line.high, strict=True) if None not in (lo, hi)]
        if band:
            bx, lo, hi = zip(*band, strict=True)
            ax.fill_between(bx, lo, hi, color=drawn.get_color(), alpha=0.2, linewidth=0)
    if not numeric:
        ax.set_xticks(range(len(param.values)), [format_value(v) for v in param.values])
    ax.set_xlabel(param.name)
    ax.set_ylabel(metric)
    title = f"{metric} vs {param.name} (bands: {ci_level:.0%} CI)"
    ax.set_title(f"{title}\nat {held}" if held else title, fontsize=9)
    if len(series) > 1:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def draw_distribution(table: pd.DataFrame, *, title: str) -> Figure:
    """Class shares as bars with CI error bars (share, ci_low, ci_high), count on each bar."""
    fig = Figure(figsize=(4.2, 2.8))
    ax = fig.add_subplot()
    x = np.arange(len(table))
    share = table["share"].to_numpy(dtype=float)
    errors = np.vstack([share - table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float) - share])
    # A bound is NaN when the scorer could not compute it (fewer than two probe samples): no error bar.
    errors = np.clip(np.nan_to_num(errors, nan=0.0), 0, None)
    share = np.nan_to_num(share)
    ax.bar(x, share, yerr=errors, capsize=3, color="tab:blue", alpha=0.8)
    for xi, (s, n) in enumerate(zip(share, table["count"], strict=True)):
        ax.annotate(f"n={n}", (xi, s), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    ax.set_xticks(x, [str(c) for c in table["class"]], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.set_title(title, fontsize=9)
    return fig


def draw_confusion(matrix: pd.DataFrame, *, title: str) -> Figure:
    """Counts of predicted (columns) per expected (rows) class, as an annotated heat map."""
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.add_subplot()
    counts = matrix.to_numpy(dtype=float)
    ax.imshow(counts, cmap="Blues", vmin=0)
    peak = counts.max() if counts.size else 0
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, f"{n:g}", ha="center", va="center", fontsize=7, color="white" if n > peak / 2 else "black")
    ax.set_xticks(range(counts.shape[1]), [str(c) for c in matrix.columns], rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(counts.shape[0]), [str(c) for c in matrix.index], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    ax.set_title(title, fontsize=9)
    return fig


def confusion_matrix(run: Run) -> pd.DataFrame | None:
    """The bias probe's confusion table with expected classes as the index (also if stored as a column)."""
    matrix = run.table(BIAS_TABLES["confusion"])
    if matrix is None:
        return None
    first = matrix.columns[0] if len(matrix.columns) else None
    if (
        isinstance(matrix.index, pd.RangeIndex)
        and first is not None
        and not pd.api.types.is_numeric_dtype(matrix[first])
    ):
        matrix = matrix.set_index(first)
    return matrix


def write_plots(study: Study, folder: Path, options: ReportOptions) -> list[PlotFile]:
    """Draw every plot of the report into `folder` (metric curves, bias bars, confusion matrices)."""
    plotted = [m for m in study.metric_names if not is_count(m)]
    stems = dict.fromkeys(split_metric(m)[0] for m in plotted if split_metric(m)[1] is not None)
    plots = []
    for param in (p for p in study.plot_parameters if p.between_runs):
        for metric in (m for m in plotted if split_metric(m)[1] is None):
            series = metric_series(study, metric, param)
            if series:
                plots.append(_curve(series, metric, param, folder, options))
        held = ", ".join(
            f"{p.name}={format_value(p.held_value)}" for p in study.parameters if p.between_runs and p is not param
        )
        for stem in stems:
            series = group_series(study, stem, param)
            if series:
                plots.append(_curve(series, f"{stem}[*]", param, folder, options, held=held))
    for column in study.score_columns:
        for param in (p for p in study.plot_parameters if not p.between_runs):
            series = score_series(study, column, param, options.ci_level)
            if series:
                plots.append(_curve(series, f"{column} (mean)", param, folder, options))
    for run in study.runs:
        plots.extend(_bias_plots(run, run_settings(study, run), folder, options))
    return plots


def run_settings(study: Study, run: Run) -> str:
    """The run's values of the parameters swept between runs, e.g. `sampler.guidance_scale=3`."""
    params = [p for p in study.parameters if p.between_runs]
    return ", ".join(f"{p.name}={format_value(run.overrides.get(p.name, UNSET))}" for p in params)


def _curve(
    series, metric: str, param: SweptParameter, folder: Path, options: ReportOptions, held: str = ""
) -> PlotFile:
    fig = draw_series(series, metric=metric, param=param, ci_level=options.ci_level, held=held)
    path = _save_figure(fig, folder / f"{_slug(metric)}__vs__{_slug(param.name)}.png", options.plot_dpi)
    return PlotFile(f"report/{metric} vs {param.name}", path, "metric", metric=metric, parameter=param.name)


def _bias_plots(run: Run, settings: str, folder: Path, options: ReportOptions) -> list[PlotFile]:
    plots = []
    distribution = run.table(BIAS_TABLES["distribution"])
    if distribution is not None and len(distribution):
        title = f"class shares — {run.label}" + (f"\n{settings}" if settings else "")
        fig = draw_distribution(distribution, title=title)
        path = _save_figure(fig, folder / f"bias_distribution__{_slug(run.label)}.png", options.plot_dpi)
        plots.append(PlotFile(f"report/bias distribution {run.label}", path, "bias-distribution", run=run.label))
    matrix = confusion_matrix(run)
    if matrix is not None and matrix.size:
        fig = draw_confusion(matrix, title=f"control prompts — {run.label}")
        path = _save_figure(fig, folder / f"bias_confusion__{_slug(run.label)}.png", options.plot_dpi)
        plots.append(PlotFile(f"report/bias confusion {run.label}", path, "bias-confusion", run=run.label))
    return plots


def render_plots(
    paths: PathArg, out_dir: Path | None = None, *, options: ReportOptions | None = None
) -> dict[str, Path]:
    """The report's plots as PNG files, keyed by a W&B image name (for the sweep summary run).

    Default folder: the plots folder of the report that `build_report` writes for the same paths.
    """
    study = load_study(paths)
    folder = out_dir or _assets_dir(_default_out(paths)) / "plots"
    return {plot.name: plot.path for plot in write_plots(study, folder, options or ReportOptions())}


# ---------------------------------------------------------------- view model for the template


def _assets_dir(out: Path) -> Path:
    return out.with_name(f"{out.stem}_files")


def _default_out(paths: PathArg) -> Path:
    return as_paths(paths)[0].expanduser().resolve() / "report.html"


class _Links:
    """Turns files under the assets folder into URLs relative to the HTML file."""

    def __init__(self, out: Path) -> None:
        self.base = out.parent

    def __call__(self, path: Path | None) -> str | None:
        return None if path is None else quote(os.path.relpath(path, self.base).replace(os.sep, "/"))


def _sample_view(row: pd.Series, thumbs: ThumbnailStore, link: _Links, score_columns: Sequence[str]) -> dict:
    path = row.get("path_256") if isinstance(row.get("path_256"), str) else row.get("path_64")
    src = link(thumbs.thumbnail(str(row["key"]), path))
    scores = [(c, format_value(row[c])) for c in score_columns if c in row and row[c] is not None]
    details = [
        f"run: {row['run']}",
        f"prompt: {row.get('prompt', '')}",
        f"seed: {format_value(row.get('seed'))}",
    ]
    details += [f"{c}: {format_value(row[c])}" for c in row.index if "." in c and not c.startswith(PARAM_PREFIX)]
    details += [f"key: {row['key']}"]
    return {
        "src": src,
        "key": str(row["key"]),
        "seed": format_value(row.get("seed")),
        "scores": scores,
        "title": "\n".join(details),
    }


def _prompt_rows(samples: pd.DataFrame) -> list[tuple[str, str]]:
    tag_columns = [c for c in samples.columns if c.startswith("tag.")]
    rows = {}
    for _, row in samples.drop_duplicates("prompt_id").iterrows():
        tags = [f"{c[4:]}: {row[c]}" for c in tag_columns if isinstance(row[c], str)]
        rows[str(row["prompt_id"])] = " · ".join([str(row["prompt"]), *tags])
    return list(rows.items())


def grid_view(study: Study, param: SweptParameter | None, thumbs: ThumbnailStore, link: _Links) -> dict:
    """Prompts as rows, the parameter's values as columns, one sample per cell (the lowest seed)."""
    others = [p for p in study.parameters if p is not param and p.name != REPLICATE_COLUMN]
    mask = np.ones(len(study.samples), dtype=bool)
    for other in others:
        mask &= (study.samples[other.column] == other.held_value).to_numpy()
    chosen = study.samples[mask].sort_values(["seed", "key"], kind="stable")
    column = param.column if param else "run"
    values = param.values if param else tuple(dict.fromkeys(study.samples["run"]))
    first = chosen.drop_duplicates(["prompt_id", column]).set_index(["prompt_id", column], drop=False)
    rows = []
    for prompt_id, label in _prompt_rows(study.samples):
        cells = []
        for value in values:
            if (prompt_id, value) in first.index:
                row = first.loc[(prompt_id, value)]
                cells.append(_sample_view(row, thumbs, link, study.score_columns))
            else:
                cells.append(None)
        rows.append({"label": label, "cells": cells})
    return {
        "param": param.name if param else "samples",
        "values": [format_value(v) for v in values],
        "held": [f"{p.name}={format_value(p.held_value)}" for p in others],
        "rows": rows,
    }


def _metric_group(name: str) -> str:
    return re.split(r"[/.]", name, maxsplit=1)[0]


def metrics_view(study: Study, plots: Sequence[PlotFile], link: _Links, options: ReportOptions) -> list[dict]:
    """One section per scorer: its plots, or its values when nothing is swept, or 'not computed'."""
    groups = dict.fromkeys(options.expected_scorers)
    groups.update(dict.fromkeys(_metric_group(m) for m in (*study.metric_names, *study.score_columns)))
    sections = []
    for group in groups:
        metrics = [m for m in study.metric_names if _metric_group(m) == group]
        present = [m for m in metrics if any(run.metrics.get(m) is not None for run in study.runs)]
        # A sample count alone (fid/n_ref without fid/fid, say) does not make a scorer's result.
        computed = [m for m in present if not is_count(m)]
        group_plots = [p for p in plots if p.kind == "metric" and _metric_group(p.metric) == group]
        sections.append(
            {
                "name": group,
                "computed": bool(computed or group_plots),
                "missing": [m for m in metrics if m not in present],
                "partial": [_partly_missing(study, m) for m in computed if _partly_missing(study, m)],
                "plots": [{"src": link(p.path), "metric": p.metric, "param": p.parameter} for p in group_plots],
                "values": [] if group_plots else _value_rows(study, present),
                "notes": sorted({n for run in study.runs for n in run.notes if _is_note_of(n, group)}),
            }
        )
    return sections


def _is_note_of(note: str, scorer: str) -> bool:
    # Scorers start their notes with their name: "fid: ...", "fid[tag.style=ink]: ...".
    return re.match(rf"{re.escape(scorer)}\b", note.lower()) is not None


def _partly_missing(study: Study, metric: str) -> str:
    runs = [run.label for run in study.runs if run.metrics.get(metric) is None]
    return f"{metric}: not computed in {', '.join(runs)}" if runs else ""


def _value_rows(study: Study, metrics: Sequence[str]) -> list[dict]:
    rows = []
    for run in study.runs:
        for metric in metrics:
            low, high = _metric_ci(run, metric)
            ci = f"[{format_value(low)}, {format_value(high)}]" if None not in (low, high) else ""
            rows.append({"run": run.label, "metric": metric, "value": format_value(run.metrics.get(metric)), "ci": ci})
    return rows


def bias_view(study: Study, plots: Sequence[PlotFile], thumbs, link, options: ReportOptions) -> list[dict]:
    """Per run with bias tables: the class-share chart, the images behind each bar, the confusion matrix."""
    by_run = {(p.kind, p.run): p for p in plots}
    views = []
    for run in study.runs:
        chart = by_run.get(("bias-distribution", run.label))
        confusion = by_run.get(("bias-confusion", run.label))
        if chart is None and confusion is None:
            continue
        distribution = run.table(BIAS_TABLES["distribution"]) if chart else None
        probed = _probe_samples(study.samples[study.samples["run"] == run.label])
        bars = (
            []
            if distribution is None
            else [_bar_view(bar, probed, study, thumbs, link, options) for _, bar in distribution.iterrows()]
        )
        views.append(
            {
                "run": run.label,
                "settings": run_settings(study, run),
                "chart": link(chart.path) if chart else None,
                "confusion": link(confusion.path) if confusion else None,
                "bars": bars,
            }
        )
    return views


def _probe_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """Samples of the probed prompts, i.e. naming no expected class (controls feed the confusion matrix)."""
    if BIAS_PRED_COLUMN not in samples:
        return samples.iloc[0:0]
    if "expected_class" in samples:
        expected = samples["expected_class"]
        samples = samples[expected.isna() | (expected.astype(str) == "")]
    return samples


def _bar_view(bar: pd.Series, probed: pd.DataFrame, study: Study, thumbs, link, options: ReportOptions) -> dict:
    behind = probed[probed[BIAS_PRED_COLUMN] == bar["class"]] if len(probed) else probed
    shown = behind.sort_values(["seed", "key"], kind="stable").head(options.images_per_bar)
    return {
        "class": str(bar["class"]),
        "share": format_value(bar["share"]),
        "ci": f"[{format_value(bar['ci_low'])}, {format_value(bar['ci_high'])}]",
        "count": format_value(bar["count"]),
        "total": len(behind),
        "images": [_sample_view(row, thumbs, link, study.score_columns) for _, row in shown.iterrows()],
    }


def runs_view(study: Study) -> dict:
    """The run table: swept overrides, model, sample count and every summary metric (CI on hover)."""
    params = [p for p in study.parameters if p.between_runs]
    metrics = study.metric_names
    rows = []
    for run in study.runs:
        cells = [_cell(run.label)]
        cells += [_cell(run.overrides.get(p.name, UNSET)) for p in params]
        cells += [_cell(run.model_id), _cell(run.random_weights), _cell(len(run.samples))]
        for metric in metrics:
            low, high = _metric_ci(run, metric)
            cell = _cell(run.metrics.get(metric))
            if None not in (low, high):
                cell["title"] = f"{metric} CI [{format_value(low)}, {format_value(high)}]"
            cells.append(cell)
        rows.append({"cells": cells, "overrides": " ".join(run.override_list)})
    header = ["run", *(p.name for p in params), "model", "random weights", "samples", *metrics]
    return {"header": header, "rows": rows}


def _cell(value: object) -> dict:
    number = _as_number(value)
    sort = number if number is not None else format_value(value)
    return {"text": format_value(value), "sort": sort, "title": ""}


def header_view(study: Study) -> dict:
    models = dict.fromkeys(run.model_id for run in study.runs)
    random = dict.fromkeys(run.random_weights for run in study.runs)
    return {
        "models": list(models),
        "random_weights": [format_value(r) for r in random],
        "any_random": any(r is True for r in random),
        "n_runs": len(study.runs),
        "n_samples": len(study.samples),
        "parameters": [{"name": p.name, "values": [format_value(v) for v in p.values]} for p in study.parameters],
        "notes": [(run.label, note) for run in study.runs for note in run.notes],
        "configs": [
            {
                "run": run.label,
                "path": str(run.path),
                "overrides": " ".join(run.override_list),
                "items": [(k, format_value(v)) for k, v in sorted(run.config.items())],
            }
            for run in study.runs
        ],
    }


# ---------------------------------------------------------------- building the report


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(("html", "j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def build_report(
    paths: PathArg,
    out: Path | None = None,
    *,
    thumb_size: int = ReportOptions.thumb_size,
    options: ReportOptions | None = None,
) -> Path:
    """Write the HTML report for run dirs / sweep dirs `paths`; return its path.

    Default `out`: `<first path>/report.html`. Thumbnails and plots go to `<out stem>_files/` beside it
    (thumbnails are reused when present), so the page needs no network and no server.
    """
    options = replace(options or ReportOptions(), thumb_size=thumb_size)
    out = Path(out).expanduser().resolve() if out else _default_out(paths)
    return write_report(load_study(paths), out, options, sources=as_paths(paths))


def write_report(study: Study, out: Path, options: ReportOptions, *, sources: Sequence[Path] = ()) -> Path:
    """Render `study` into `out` (plots and thumbnails in the assets folder beside it)."""
    assets = _assets_dir(out)
    link = _Links(out)
    thumbs = ThumbnailStore(assets / "thumbs", options.thumb_size, options.thumb_quality)
    plots = write_plots(study, assets / "plots", options)
    header = header_view(study)
    context = {
        "title": f"glide-eval report — {', '.join(header['models'])}",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": [str(p) for p in sources],
        "header": header,
        "grids": [grid_view(study, param, thumbs, link) for param in study.parameters or (None,)],
        "metrics": metrics_view(study, plots, link, options),
        "ci_level": f"{options.ci_level:.0%}",
        "bias": bias_view(study, plots, thumbs, link, options),
        "runs": runs_view(study),
        "thumb_size": options.thumb_size,
    }
    page = _environment().get_template("report.html.j2").render(**context)
    write_atomic(out, page.encode("utf-8"))
    log.info("wrote %s (%d runs, %d samples, %d plots)", out, len(study.runs), len(study.samples), len(plots))
    return out


# ---------------------------------------------------------------- optional W&B report


def wandb_reports_module():
    """The wandb-workspaces reports API once W&B is online and logged in; WandbReportError if not."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "disabled", "dryrun"):
        raise WandbReportError(f"--wandb needs W&B online, but WANDB_MODE={mode} (the HTML report needs neither)")
    try:
        import wandb
        import wandb_workspaces.reports.v2 as wr
    except ImportError as err:
        raise WandbReportError(
            f"--wandb needs the wandb-workspaces package: pip install wandb-workspaces ({err})"
        ) from err
    try:
        wandb.Api()
    except Exception as err:
        raise WandbReportError(f"--wandb needs a W&B login (run `wandb login`): {_first_line(err)}") from err
    return wr


def wandb_report_blocks(
    wr, study: Study, *, project: str, entity: str | None, title: str, group: str | None = None
) -> list:
    """Report blocks: a heading, what was swept, one scatter panel per (summary metric, swept override).

    Override keys are the runs' W&B config keys and metric names their summary keys, as the tracker logs them;
    `group` keeps the panels to the runs of one W&B group (one sweep).
    """
    params = [p.name for p in study.plot_parameters if p.between_runs]
    panels = [
        wr.ScatterPlot(title=f"{m} vs {p}", x=wr.Config(p), y=wr.SummaryMetric(m))
        for m in study.metric_names
        if not is_count(m)
        for p in params
    ]
    where: dict[str, object] = {"entity": entity} if entity else {}
    if group:
        from wandb_workspaces import expr

        where["filters"] = [expr.Metric("Group") == group]
    runset = wr.Runset(project=project, **where)
    models = ", ".join(header_view(study)["models"])
    return [
        wr.H1(text=title),
        wr.P(text=f"Models: {models}. Swept: {', '.join(params) or 'nothing'}."),
        wr.PanelGrid(runsets=[runset], panels=panels),
    ]


def create_wandb_report(
    study: Study,
    *,
    project: str,
    entity: str | None = None,
    group: str | None = None,
    title: str = "glide-eval sweep",
) -> str:
    """Save a W&B report for `project` with the sweep's metric panels; return its URL.

    Needs `wandb login`, network and the `wandb-workspaces` package; raises WandbReportError otherwise.
    """
    wr = wandb_reports_module()
    blocks = wandb_report_blocks(wr, study, project=project, entity=entity, title=title, group=group)
    try:
        report = wr.Report(project=project, title=title, blocks=blocks, **({"entity": entity} if entity else {}))
        report.save()
        return report.url
    except Exception as err:
        raise WandbReportError(f"could not save the W&B report: {_first_line(err)}") from err


def _logger_setting(study: Study, key: str) -> str | None:
    """`logger.<key>` of the runs' config when every run that has it agrees, else None."""
    values = {run.config.get(f"logger.{key}") for run in study.runs} - {None, ""}
    return str(values.pop()) if len(values) == 1 else None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.report",
        description="Write an offline HTML report (image grids, metric plots, bias, run table).",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run dir(s) and/or multirun sweep dir(s)")
    parser.add_argument("-o", "--out", type=Path, help="HTML file to write (default: <first path>/report.html)")
    parser.add_argument("--thumb-size", type=int, default=ReportOptions.thumb_size, help="thumbnail size in px")
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also save a W&B report (needs `wandb login` and wandb-workspaces)",
    )
    parser.add_argument("--project", help="W&B project for --wandb (default: logger.project of the runs)")
    parser.add_argument("--entity", help="W&B entity for --wandb (default: logger.entity of the runs, or yours)")
    parser.add_argument("--group", help="W&B group whose runs the --wandb panels show (default: all runs)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build the report (and the W&B report with --wandb); one error line and exit 2 on bad input."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.wandb:
            wandb_reports_module()  # fail before the slow part when the W&B report cannot be made anyway
        options = ReportOptions(thumb_size=args.thumb_size)
        out = args.out.expanduser().resolve() if args.out else _default_out(args.paths)
        study = load_study(args.paths)
        project = (args.project or _logger_setting(study, "project")) if args.wandb else None
        if args.wandb and not project:
            raise ReportInputError("--wandb needs --project (the runs' config has no logger.project)")
        sys.stdout.write(f"{write_report(study, out, options, sources=args.paths)}\n")
        if project:
            entity = args.entity or _logger_setting(study, "entity")
            sys.stdout.write(f"{create_wandb_report(study, project=project, entity=entity, group=args.group)}\n")
    except (ReportInputError, WandbReportError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
