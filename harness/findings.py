"""Findings: an experiment's claim (its note) checked against the metric its `finding` names, one row per metric.

Pure functions from a study's tables (paired comparisons, per-sample scores, run metrics) to rows of claim,
metric, measured value with interval and verdict; a verdict never rests on point estimates alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.config import FindingConfig
from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import holm, paired_comparison, prompt_mean

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive at this n"
NO_VERDICT_RANDOM = "no verdict: random weights"
NO_VERDICT_UNVALIDATED = "no verdict: probe not validated on its control prompts"
NO_VERDICT_MISSING = "no verdict: metric not computed in this study"
# Scorers whose numbers describe a zero-shot probe's reading: a verdict needs the probe validated.
PROBE_SCORERS = ("bias", "style")
COLUMNS = ["claim", "metric", "compare", "expect", "measured", "verdict", "basis"]


@dataclass(frozen=True)
class Finding:
    """One row of the Findings table."""

    claim: str
    metric: str
    compare: str
    expect: str
    measured: str
    verdict: str
    basis: str  # how the verdict was read: paired comparisons, or intervals of separate groups

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in COLUMNS}


def finding_from_config(config: Mapping[str, Any]) -> FindingConfig | None:
    """The `finding` node of a run's flattened config (summary.json `config`), typed; None when it has none."""
    if config.get("finding.metric") in (None, ""):
        return None
    also = config.get("finding.also") or []
    return FindingConfig(
        metric=str(config["finding.metric"]),
        compare=str(config["finding.compare"]),
        expect=str(config["finding.expect"]),
        target=None if config.get("finding.target") in (None, "") else str(config["finding.target"]),
        also=[str(m) for m in also],
        alpha=float(config.get("finding.alpha", 0.05)),
    )


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{float(value):.4g}"


def _interval(mean: Any, low: Any, high: Any) -> str:
    return f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]"


def _matches(param: str, compare: str) -> bool:
    """A comparison's parameter is the swept override (sampler.guidance_scale) or its samples column."""
    return param == compare or param.rsplit(".", 1)[-1] == compare.rsplit(".", 1)[-1]


def trend_verdict(comparisons: pd.DataFrame, metric: str, compare: str, expect: str, alpha: float) -> tuple[str, str]:
    """(measured, verdict) of increase / decrease from the paired comparisons of adjacent values.

    A step counts for the claim when its Holm-adjusted p is below alpha and its interval excludes 0 on the
    expected side, against it when both hold on the other side. Any step against: not supported; at least
    one for and none against: supported; otherwise inconclusive at this n.
    """
    if comparisons.empty:
        return "not computed", NO_VERDICT_MISSING
    wanted = np.array([_matches(str(p), compare) for p in comparisons["param"]], dtype=bool)
    rows = comparisons[wanted & (comparisons["metric"] == metric).to_numpy()]
    if rows.empty:
        return "not computed", NO_VERDICT_MISSING
    sign = 1.0 if expect == "increase" else -1.0
    significant = rows["p_holm"].to_numpy(dtype=np.float64) < alpha
    low, high = rows["ci_low"].to_numpy(dtype=np.float64), rows["ci_high"].to_numpy(dtype=np.float64)
    towards = significant & ((low > 0) if sign > 0 else (high < 0))
    against = significant & ((high < 0) if sign > 0 else (low > 0))
    parts = []
    for row in rows.itertuples():
        held = "" if row.held in ("(none)", "", None) else f" ({row.held})"
        parts.append(
            f"{row.value_a}→{row.value_b}{held}: {_interval(row.diff, row.ci_low, row.ci_high)}, "
            f"p_holm {_fmt(row.p_holm)}, {row.n_prompts} prompts"
        )
    verdict = NOT_SUPPORTED if against.any() else (SUPPORTED if towards.any() else INCONCLUSIVE)
    return "; ".join(parts), verdict


def _study_rows(samples: pd.DataFrame) -> pd.DataFrame:
    """The samples that test a claim: control rows (with an expected_class) validate probes and are left out."""
    if "expected_class" not in samples.columns:
        return samples
    return samples[samples["expected_class"].isna() | (samples["expected_class"].astype(str) == "")]


def group_intervals(
    samples: pd.DataFrame, metric: str, compare: str, options: BootstrapOptions | None = None
) -> pd.DataFrame:
    """Per value of the samples column `compare`: the mean of `metric` over prompts (seeds averaged first)
    with its interval over prompts. Control rows (with an expected_class) validate probes and are left out."""
    columns = ["value", "mean", "ci_low", "ci_high", "n_prompts"]
    if metric not in samples.columns or compare not in samples.columns:
        return pd.DataFrame(columns=columns)
    options = options or BootstrapOptions()
    frame = _study_rows(samples)
    values = pd.array(frame[metric]).to_numpy(dtype=np.float64, na_value=np.nan)
    units = frame["prompt_id"].astype(str).to_numpy()
    labels = frame[compare].astype(str).to_numpy()
    rows = []
    for value in sorted(set(labels)):
        mask = labels == value
        mean, low, high, n = prompt_mean(values[mask], units[mask], options)
        if n:
            rows.append({"value": value, "mean": mean, "ci_low": low, "ci_high": high, "n_prompts": n})
    return pd.DataFrame(rows, columns=columns)


def _apart(lower: pd.Series, upper: pd.Series) -> bool:
    """Interval `lower` lies wholly below interval `upper` (both bounds known)."""
    return (
        lower["ci_high"] is not None
        and upper["ci_low"] is not None
        and np.isfinite(lower["ci_high"])
        and np.isfinite(upper["ci_low"])
        and lower["ci_high"] < upper["ci_low"]
    )


def rank_verdict(groups: pd.DataFrame, target: str, expect: str) -> tuple[str, str]:
    """(measured, verdict) of highest / lowest: `target`'s interval apart from every other group's, on the
    expected side (supported), or some group's apart on the wrong side (not supported)."""
    if groups.empty or target not in set(groups["value"]):
        return "not computed", NO_VERDICT_MISSING
    chosen = groups[groups["value"] == target].iloc[0]
    others = [row for _, row in groups.iterrows() if row["value"] != target]
    if not others:
        return _interval(chosen["mean"], chosen["ci_low"], chosen["ci_high"]), INCONCLUSIVE

    def below(a: pd.Series, b: pd.Series) -> bool:  # a clearly under b when lowest is claimed, over otherwise
        return _apart(a, b) if expect == "lowest" else _apart(b, a)

    measured = "; ".join(
        f"{row['value']}: {_interval(row['mean'], row['ci_low'], row['ci_high'])} ({row['n_prompts']} prompts)"
        for row in [chosen, *others]
    )
    if any(below(other, chosen) for other in others):
        return measured, NOT_SUPPORTED
    if all(below(chosen, other) for other in others):
        return measured, SUPPORTED
    return measured, INCONCLUSIVE


def prompt_means_by_group(samples: pd.DataFrame, metric: str, compare: str) -> dict[str, pd.Series]:
    """Per value of the samples column `compare`: each prompt's mean of `metric` over all its samples there
    (seeds, and every sweep cell the value pools), indexed by (prompt_id, 0) as paired comparisons take it."""
    frame = _study_rows(samples)
    values = pd.Series(pd.array(frame[metric]).to_numpy(dtype=np.float64, na_value=np.nan), index=frame.index)
    groups = {}
    for value, rows in frame.groupby(frame[compare].astype(str)).groups.items():
        means = values[rows].groupby(frame.loc[rows, "prompt_id"].astype(str)).mean().dropna()
        groups[str(value)] = pd.Series(means.to_numpy(), index=pd.MultiIndex.from_product([means.index, [0]]))
    return groups


def paired_rank_verdict(
    samples: pd.DataFrame, metric: str, compare: str, target: str, expect: str, alpha: float
) -> tuple[str, str] | None:
    """(measured, verdict) of highest / lowest when every value of `compare` holds the same prompts (a sweep
    at equal prompts and seeds): target minus each other value, per prompt, as paired comparisons with
    Holm-adjusted p. None when the values hold different prompts (then only separate intervals apply)."""
    if metric not in samples.columns or compare not in samples.columns:
        return None
    groups = prompt_means_by_group(samples, metric, compare)
    if target not in groups or len(groups) < 2:
        return None
    prompts = {value: set(means.index) for value, means in groups.items()}
    if any(index != prompts[target] for index in prompts.values()) or len(prompts[target]) < 2:
        return None
    others = [value for value in groups if value != target]
    rows = [paired_comparison(groups[other], groups[target], BootstrapOptions()) for other in others]
    p_holm = holm([row.p for row in rows])
    above = expect == "highest"
    towards = [p < alpha and (r.ci_low > 0 if above else r.ci_high < 0) for r, p in zip(rows, p_holm, strict=True)]
    against = [p < alpha and (r.ci_high < 0 if above else r.ci_low > 0) for r, p in zip(rows, p_holm, strict=True)]
    measured = "; ".join(
        f"{target} − {other}: {_interval(row.diff, row.ci_low, row.ci_high)}, p_holm {_fmt(p)}, {row.n_prompts} prompts"
        for other, row, p in zip(others, rows, p_holm, strict=True)
    )
    if any(against):
        return measured, NOT_SUPPORTED
    if all(towards):
        return measured, SUPPORTED
    return measured, INCONCLUSIVE


def endpoint_verdict(groups: pd.DataFrame, expect: str) -> tuple[str, str]:
    """(measured, verdict) of increase / decrease of a run metric with its own interval (one per run): the
    value at the highest setting against the lowest, intervals apart."""
    if len(groups) < 2:
        return "not computed", NO_VERDICT_MISSING
    order = groups.assign(_x=pd.to_numeric(groups["value"], errors="coerce")).sort_values("_x", kind="stable")
    first, last = order.iloc[0], order.iloc[-1]
    measured = "; ".join(
        f"{row['value']}: {_interval(row['mean'], row['ci_low'], row['ci_high'])}" for _, row in order.iterrows()
    )
    rising, falling = _apart(first, last), _apart(last, first)
    if (expect == "increase" and falling) or (expect == "decrease" and rising):
        return measured, NOT_SUPPORTED
    if (expect == "increase" and rising) or (expect == "decrease" and falling):
        return measured, SUPPORTED
    return measured, INCONCLUSIVE


def run_metric_groups(runs: Sequence[Mapping[str, Any]], metric: str, compare: str) -> pd.DataFrame:
    """One row per run: its value of `compare` (an override) and the run metric with its `_ci_low/_ci_high`."""
    base, bracket, subset = metric.partition("[")
    rows = []
    for run in runs:
        metrics, overrides = run["metrics"], run["overrides"]
        if compare not in overrides or metrics.get(metric) is None:
            continue
        rows.append(
            {
                "value": str(overrides[compare]),
                "mean": metrics[metric],
                "ci_low": metrics.get(f"{base}_ci_low{bracket}{subset}"),
                "ci_high": metrics.get(f"{base}_ci_high{bracket}{subset}"),
            }
        )
    return pd.DataFrame(rows, columns=["value", "mean", "ci_low", "ci_high"])


def findings(
    finding: FindingConfig,
    claim: str,
    *,
    comparisons: pd.DataFrame,
    samples: pd.DataFrame,
    runs: Sequence[Mapping[str, Any]],
    random_weights: bool,
) -> list[Finding]:
    """One Finding per metric of `finding`. `runs` holds each run's `metrics` and `overrides` mappings."""
    out = []
    for metric in finding.metrics:
        if "/" in metric:  # a run metric (bias/interest_share): one value and interval per run
            measured, verdict = endpoint_verdict(run_metric_groups(runs, metric, finding.compare), finding.expect)
            basis = "intervals of the lowest and highest setting's runs"
        elif finding.expect in ("increase", "decrease"):
            measured, verdict = trend_verdict(comparisons, metric, finding.compare, finding.expect, finding.alpha)
            basis = f"paired comparisons of adjacent values, Holm-adjusted p < {finding.alpha:g}"
        elif paired := paired_rank_verdict(
            samples, metric, finding.compare, str(finding.target), finding.expect, finding.alpha
        ):
            measured, verdict = paired
            basis = (
                f"paired comparisons over shared prompts against every other group, Holm-adjusted p < {finding.alpha:g}"
            )
        else:
            groups = group_intervals(samples, metric, finding.compare)
            measured, verdict = rank_verdict(groups, str(finding.target), finding.expect)
            basis = "intervals over prompts of each group, apart from every other group's"
        verdict = _overruled(verdict, metric, runs, random_weights)
        target = f" ({finding.target})" if finding.target else ""
        out.append(Finding(claim, metric, finding.compare, f"{finding.expect}{target}", measured, verdict, basis))
    return out


def _overruled(verdict: str, metric: str, runs: Sequence[Mapping[str, Any]], random_weights: bool) -> str:
    """Random weights test the pipeline, and an unvalidated probe's labels are not what images show."""
    if verdict == NO_VERDICT_MISSING:
        return verdict
    if random_weights:
        return NO_VERDICT_RANDOM
    scorer = metric.replace("/", ".").split(".")[0]
    if scorer in PROBE_SCORERS and any(run["metrics"].get(f"{scorer}/validated") != 1.0 for run in runs):
        return NO_VERDICT_UNVALIDATED
    return verdict


def findings_table(rows: Sequence[Finding]) -> pd.DataFrame:
    return pd.DataFrame([row.as_dict() for row in rows], columns=COLUMNS)
