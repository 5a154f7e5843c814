"""Metric series over swept parameters: the lines the report plots, each point with its CI band.

Summary metrics against parameters swept between runs; per-sample scores (mean, t-interval) against
parameters that vary inside a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.analysis.metric_names import ci_names, is_ci_bound, split_metric
from harness.analysis.study import UNSET, Run, Study, SweptParameter
from harness.analysis.values import format_value, plain


@dataclass(frozen=True)
class Series:
    """One line of a metric plot: y against x with an optional CI band (None where a bound is unknown)."""

    label: str
    x: tuple
    y: tuple[float, ...]
    low: tuple[float | None, ...]
    high: tuple[float | None, ...]


def metric_ci(run: Run, metric: str) -> tuple[float | None, float | None]:
    """The CI bounds the scorer reported for `metric` in `run`, (None, None) when it reported none."""
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
        low, high = metric_ci(run, metric)
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
                low, high = metric_ci(run, metric)
                lines.setdefault(group, []).append((run.overrides.get(param.name, UNSET), value, low, high))
    return [_series(label, points, param) for label, points in lines.items()]


def score_series(study: Study, column: str, param: SweptParameter, level: float = 0.95) -> list[Series]:
    """A per-sample score's mean (t-interval band) against a parameter that varies inside runs, per run."""
    # Imported here: the scorers package loads the CLIP and Inception code when imported, which the
    # report needs only for this interval and `python -m harness.report` should not wait for.
    from harness.scorers.stats import t_interval

    series = []
    for run_label, rows in study.samples.groupby("run", sort=False):
        if column not in rows or param.column not in rows:
            continue
        points = []
        for value, group in rows.groupby(param.column, sort=False):
            scores = pd.to_numeric(group[column], errors="coerce").dropna()
            if len(scores):
                points.append((plain(value), *t_interval(scores.to_numpy(), level)))
        if points:
            series.append(_series(str(run_label), points, param))
    return series


def _series(label: str, points: list[tuple], param: SweptParameter) -> Series:
    position = {v: i for i, v in enumerate(param.values)}
    points = sorted(points, key=lambda p: position.get(p[0], len(position)))
    x, y, low, high = zip(*points, strict=True)
    return Series(label=label, x=x, y=tuple(map(float, y)), low=low, high=high)
