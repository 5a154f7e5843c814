"""Findings: an experiment's claim (its note) checked against the metric its `finding` names, one row per metric.

Pure functions from a study's per-sample scores (and its runs' configs) to rows of claim, metric, measured
value with interval and verdict. Prompts are the units, a trend is tested over every swept value, a
verdict's multiplicity family is its claim's own metrics, and no rule reads overlapping intervals.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from harness.config.compose import job_config, typed_job
from harness.config.schema import FindingConfig, config_key, sample_column
from harness.scorers.options import BootstrapOptions
from harness.scorers.stats import (
    PairedComparison,
    TrendTest,
    holm,
    paired_comparison,
    prompt_mean,
    smallest_sign_flip_p,
    smallest_two_sample_p,
    trend_test,
    two_sample_pvalue,
)

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive at this n"
NO_VERDICT_RANDOM = "no verdict: random weights"
NO_VERDICT_UNVALIDATED = "no verdict: probe not validated on its control prompts"
NO_VERDICT_MISSING = "no verdict: metric not computed in this study"
NO_VERDICT_RUN_METRIC = "no verdict: a run metric without per-prompt values to pair"
# Scorers whose numbers describe a zero-shot probe's reading: a verdict needs the probe validated.
PROBE_SCORERS = ("bias", "style")
COLUMNS = ["claim", "metric", "compare", "expect", "measured", "verdict", "design", "basis"]
# A suite marks the prompts a claim was made from (the seed's own) `role: exploratory`: they get their own row,
# read by the same rule on those prompts alone, and never enter the confirmatory verdict.
ROLE_COLUMN = "tag.role"
EXPLORATORY = "exploratory"


@dataclass(frozen=True)
class Finding:
    """One row of the Findings table."""

    claim: str
    metric: str
    compare: str
    expect: str
    measured: str
    verdict: str
    design: str  # what the design can decide: its prompts, MDE at 80% power, power at the stated effect
    basis: str  # how the verdict was read: the test, its units and its multiplicity family

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
        effect=None if config.get("finding.effect") in (None, "") else float(config["finding.effect"]),
        pair_by=None if config.get("finding.pair_by") in (None, "") else str(config["finding.pair_by"]),
    )


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{float(value):.4g}"


def _interval(mean: Any, low: Any, high: Any) -> str:
    return f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]"


def samples_column(samples: pd.DataFrame, compare: str) -> str | None:
    """The samples column holding `compare`: itself, or a swept override's column (sampler.guidance_scale ->
    guidance_scale)."""
    for column in (compare, sample_column(compare)):
        if column in samples.columns:
            return column
    return None


def _study_rows(samples: pd.DataFrame) -> pd.DataFrame:
    """The samples that test a claim: control rows (with an expected_class) validate probes and are left out."""
    if "expected_class" not in samples.columns:
        return samples
    return samples[samples["expected_class"].isna() | (samples["expected_class"].astype(str) == "")]


def _roles(samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The confirmatory samples and the exploratory ones (`role: exploratory`, the prompts a claim was made from)."""
    if ROLE_COLUMN not in samples.columns:
        return samples, samples.iloc[:0]
    exploratory = samples[ROLE_COLUMN].astype(str).to_numpy() == EXPLORATORY
    return samples[~exploratory], samples[exploratory]


def is_exploratory(prompt: Any) -> bool:
    """A suite prompt (PromptConfig) the claim was made from: shown apart, never part of the verdict."""
    return str((getattr(prompt, "tags", None) or {}).get(ROLE_COLUMN.removeprefix("tag."), "")) == EXPLORATORY


def _ordered_labels(labels: list[str]) -> list[str]:
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def prompt_value_means(samples: pd.DataFrame, metric: str, column: str, unit: str = "prompt_id") -> pd.DataFrame:
    """Each unit's mean of `metric` at each value of `column` (its seeds, and every sweep cell the value
    pools, averaged): units (prompts, or the values of a pairing column such as tag.subject) as rows, the
    values in numeric order as columns. Control rows, and rows without a unit, are left out."""
    frame = _study_rows(samples)
    frame = frame[frame[unit].notna()]
    scores = pd.array(frame[metric]).to_numpy(dtype=np.float64, na_value=np.nan)
    long = pd.DataFrame(
        {"prompt": frame[unit].astype(str).to_numpy(), "value": frame[column].astype(str).to_numpy()}
    ).assign(score=scores)
    table = long.dropna().groupby(["prompt", "value"])["score"].mean().unstack("value")
    return table[_ordered_labels([str(v) for v in table.columns])]


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
    for value in _ordered_labels(sorted(set(labels))):
        mask = labels == value
        mean, low, high, n = prompt_mean(values[mask], units[mask], options)
        if n:
            rows.append({"value": value, "mean": mean, "ci_low": low, "ci_high": high, "n_prompts": n})
    return pd.DataFrame(rows, columns=columns)


# --- increase / decrease: a monotone trend over every swept value ----------------------------------------


def _trend_measured(trend: TrendTest, p: float, curve: pd.Series, against: list[str]) -> str:
    points = ", ".join(f"{value}: {_fmt(mean)}" for value, mean in curve.items())
    text = (
        f"slope per step {_interval(trend.slope, trend.ci_low, trend.ci_high)}, one-sided p_holm {_fmt(p)}, "
        f"{trend.n_prompts} prompts; means {points}"
    )
    return text + "".join(f"; against: {step}" for step in against)


def trend_findings(
    means: Mapping[str, pd.DataFrame], expect: str, alpha: float, options: BootstrapOptions | None = None
) -> dict[str, tuple[str, str]]:
    """(measured, verdict) per metric of an increase / decrease claim, from each metric's per-prompt means
    at every swept value (`prompt_value_means`); prompts that lack a value are left out (the test is paired).

    Supported: the one-sided trend test in the expected direction has Holm-adjusted p < alpha (Holm over the
    claim's metrics) and no adjacent step goes significantly the other way (Holm over the claim's steps).
    Not supported: the trend in the other direction, or such a step, is significant. Else inconclusive.
    """
    options = options or BootstrapOptions()
    tests = {metric: trend_test(table.dropna().to_numpy(), options) for metric, table in means.items()}
    up = expect == "increase"
    toward = holm([t.p_increase if up else t.p_decrease for t in tests.values()])
    away = holm([t.p_decrease if up else t.p_increase for t in tests.values()])
    step_p = iter(holm([step.p for t in tests.values() for step in t.steps]))
    out = {}
    for (metric, trend), p_toward, p_away in zip(tests.items(), toward, away, strict=True):
        labels = list(means[metric].columns)
        against = []
        for (a, b), step in zip(zip(labels, labels[1:], strict=False), trend.steps, strict=True):
            p = next(step_p)
            if p < alpha and (step.diff < 0 if up else step.diff > 0):
                against.append(f"{a}→{b} {_interval(step.diff, step.ci_low, step.ci_high)}, p_holm {_fmt(p)}")
        if p_away < alpha or against:
            verdict = NOT_SUPPORTED
        elif p_toward < alpha:
            verdict = SUPPORTED
        else:
            verdict = INCONCLUSIVE
        curve = means[metric].dropna().mean(axis=0)
        out[metric] = (_trend_measured(trend, p_toward, curve, against), verdict)
    return out


# --- highest / lowest: the target's group against every other ---------------------------------------------


def paired_groups(
    samples: pd.DataFrame, metric: str, compare: str, unit: str = "prompt_id"
) -> dict[str, pd.Series] | None:
    """Each value's per-unit means indexed by (unit, 0), as paired comparisons take them, when at least two
    units hold every value of `compare` (units lacking one are left out; with prompts as the units, every
    prompt must hold every value); None otherwise."""
    table = prompt_value_means(samples, metric, compare, unit)
    if unit != "prompt_id":
        table = table.dropna()
    if table.shape[1] < 2 or table.isna().any().any() or len(table) < 2:
        return None
    index = pd.MultiIndex.from_product([table.index, [0]])
    return {str(value): pd.Series(table[value].to_numpy(), index=index) for value in table.columns}


@dataclass(frozen=True)
class _Contrast:
    other: str
    diff: float
    p: float
    before: str  # the measured text before its Holm-adjusted p
    after: str = ""


def _paired_contrasts(
    groups: Mapping[str, pd.Series], target: str, options: BootstrapOptions, units: str = "prompts"
) -> list[_Contrast]:
    out = []
    for other in (value for value in groups if value != target):
        row: PairedComparison = paired_comparison(groups[other], groups[target], options)
        text = f"{target} − {other}: {_interval(row.diff, row.ci_low, row.ci_high)}"
        out.append(_Contrast(other, row.diff, row.p, text, f", {row.n_prompts} {units}"))
    return out


def _unpaired_contrasts(
    samples: pd.DataFrame, metric: str, compare: str, target: str, options: BootstrapOptions
) -> list[_Contrast]:
    """Target's prompts against each other value's (different prompts): a two-sample permutation test over
    prompts; the measured text shows each group's mean with its interval over its prompts."""
    groups = group_intervals(samples, metric, compare).set_index("value")
    table = prompt_value_means(samples, metric, compare)
    mine = table[target].dropna().to_numpy()
    out = []
    for other in (value for value in table.columns if value != target):
        theirs = table[other].dropna().to_numpy()
        # One prompt on either side leaves no spread to test against (and at most 1 / (n + 1) relabellings).
        testable = len(mine) >= 2 and len(theirs) >= 2
        p = two_sample_pvalue(mine, theirs, options.resamples, options.seed) if testable else np.nan
        diff = float(mine.mean() - theirs.mean()) if len(mine) and len(theirs) else np.nan
        g = groups.loc[other]
        text = f"{other}: {_interval(g['mean'], g['ci_low'], g['ci_high'])} ({int(g['n_prompts'])} prompts)"
        out.append(_Contrast(other, diff, p, f"{text}, {target} − {other} {_fmt(diff)}"))
    return out


def _group_text(samples: pd.DataFrame, metric: str, compare: str, target: str) -> str:
    g = group_intervals(samples, metric, compare).set_index("value").loc[target]
    return f"{target}: {_interval(g['mean'], g['ci_low'], g['ci_high'])} ({int(g['n_prompts'])} prompts)"


def rank_findings(
    samples: pd.DataFrame,
    metrics: Sequence[str],
    compare: str,
    target: str,
    expect: str,
    alpha: float,
    *,
    unit: str = "prompt_id",
    options: BootstrapOptions | None = None,
) -> dict[str, tuple[str, str, bool]]:
    """(measured, verdict, paired) per metric of a highest / lowest claim: `target` against every other value.

    Paired comparisons over shared units (prompts, or the values of `unit`, e.g. tag.subject: the same subject
    in every style) when at least two units hold every value, else a two-sample permutation test over each
    group's prompts. Holm over every contrast of the claim's metrics. Supported when every contrast is
    significant on the expected side, not supported when any is on the other side.
    """
    options = options or BootstrapOptions()
    units = "prompts" if unit == "prompt_id" else f"{unit.removeprefix('tag.')}s"  # tag.subject: "12 subjects"
    contrasts: dict[str, tuple[list[_Contrast], bool, str]] = {}
    for metric in metrics:
        table = prompt_value_means(samples, metric, compare)
        if target not in table.columns:
            continue
        if (groups := paired_groups(samples, metric, compare, unit)) is not None:
            contrasts[metric] = (_paired_contrasts(groups, target, options, units), True, "")
        else:
            head = _group_text(samples, metric, compare, target)
            contrasts[metric] = (_unpaired_contrasts(samples, metric, compare, target, options), False, head)
    p_holm = iter(holm([c.p for rows, _, _ in contrasts.values() for c in rows]))
    sign = 1.0 if expect == "highest" else -1.0
    out = {}
    for metric, (rows, paired, head) in contrasts.items():
        adjusted = [next(p_holm) for _ in rows]
        towards = [p < alpha and sign * c.diff > 0 for c, p in zip(rows, adjusted, strict=True)]
        against = [p < alpha and sign * c.diff < 0 for c, p in zip(rows, adjusted, strict=True)]
        verdict = NOT_SUPPORTED if any(against) else SUPPORTED if rows and all(towards) else INCONCLUSIVE
        parts = [f"{c.before}, p_holm {_fmt(p)}{c.after}" for c, p in zip(rows, adjusted, strict=True)]
        out[metric] = ("; ".join([head, *parts] if head else parts), verdict, paired)
    return out


# --- run metrics read per prompt -------------------------------------------------------------------------


def run_metric_scores(samples: pd.DataFrame, metric: str, runs: Sequence[Mapping[str, Any]]) -> pd.Series | None:
    """A run metric `<scorer>/interest_share` as a per-sample score: 1 where the image's label
    (`<scorer>.pred`) is the class of interest the runs' config names, else 0, so that each prompt's share is
    its mean and prompts can be paired across settings. None for any other run metric."""
    scorer, _, name = metric.partition("/")
    column = f"{scorer}.pred"
    classes = {run.get("config", {}).get(f"scorer.{scorer}.class_of_interest") for run in runs}
    if name != "interest_share" or column not in samples.columns or len(classes) != 1 or None in classes:
        return None
    (chosen,) = classes
    labels = samples[column]
    return pd.Series(np.where(labels.isna(), np.nan, labels.astype(str) == str(chosen)), index=samples.index)


def findings(
    finding: FindingConfig,
    claim: str,
    *,
    samples: pd.DataFrame,
    runs: Sequence[Mapping[str, Any]],
    random_weights: bool,
    options: BootstrapOptions | None = None,
) -> list[Finding]:
    """One Finding per metric of `finding`, and one more per metric read on the exploratory prompts alone
    when the study holds any. `runs` holds each run's `metrics`, `overrides` and flattened `config`.

    A run metric (bias/interest_share) is read from its per-sample labels: each prompt's share at each
    setting, so the tests below apply to it with prompts as the units.
    """
    frame = samples
    unpaired = []
    for metric in finding.metrics:
        if "/" in metric:
            scores = run_metric_scores(samples, metric, runs) if not samples.empty else None
            if scores is None:
                unpaired.append(metric)
            else:
                frame = frame.assign(**{metric: scores.astype("float64")})
    column = samples_column(frame, finding.compare) if "prompt_id" in frame.columns else None
    # Without its pairing column (prompts given on the command line) a claim reads its prompts as the units.
    unit = (samples_column(frame, finding.pair_by) if finding.pair_by else None) or "prompt_id"
    present = [m for m in finding.metrics if m in frame.columns and column is not None]
    confirmatory, exploratory = _roles(frame)
    out = [
        dataclasses.replace(row, verdict=_overruled(row.verdict, row.metric, runs, random_weights))
        for row in _rows(finding, claim, confirmatory, column, unit, present, unpaired, options)
    ]
    if len(exploratory) and column is not None:
        out += _exploratory_rows(finding, claim, exploratory, column, unit, present, unpaired, options)
    return out


def _exploratory_rows(
    finding: FindingConfig,
    claim: str,
    frame: pd.DataFrame,
    column: str,
    unit: str,
    present: list[str],
    unpaired: list[str],
    options: BootstrapOptions | None,
) -> list[Finding]:
    """The rule read on the prompts the claim was made from, alone: their numbers, never a verdict (so
    nothing to overrule)."""
    n = frame["prompt_id"].nunique()
    verdict = f"{EXPLORATORY}: the claim was made from {'this prompt' if n == 1 else 'these prompts'}"
    ids = ", ".join(sorted(frame["prompt_id"].astype(str).unique()))
    design = f"{n} {EXPLORATORY} prompt{'' if n == 1 else 's'} ({ids}), apart from the verdict"
    return [
        dataclasses.replace(
            row,
            verdict=verdict,
            design=design,
            basis=f"{row.basis}; on the {EXPLORATORY} prompts alone" if row.basis else "",
        )
        for row in _rows(finding, claim, frame, column, unit, present, unpaired, options)
    ]


def _rows(
    finding: FindingConfig,
    claim: str,
    frame: pd.DataFrame,
    column: str | None,
    unit: str,
    present: list[str],
    unpaired: list[str],
    options: BootstrapOptions | None,
) -> list[Finding]:
    """The rows of `finding` read on `frame` (the confirmatory or the exploratory samples), before any
    overruling verdict."""
    family = len(present)
    if finding.expect in ("increase", "decrease"):
        means = {m: t for m in present if (t := prompt_value_means(frame, m, column, unit)).shape[1] >= 2}
        readings = {m: (*r, True) for m, r in trend_findings(means, finding.expect, finding.alpha, options).items()}
        basis = (
            f"per-prompt slope over the ranks of every value of {finding.compare}, one-sided sign-flip over "
            f"prompts, Holm over the claim's {family} metric(s) < {finding.alpha:g}; no adjacent step "
            "significantly against"
        )
        bases = dict.fromkeys(present, basis)
    else:
        target = str(finding.target)
        readings = (
            rank_findings(frame, present, column, target, finding.expect, finding.alpha, unit=unit, options=options)
            if present
            else {}
        )
        over = "shared prompts" if unit == "prompt_id" else f"shared {unit.removeprefix('tag.')}s"
        bases = {
            m: (
                f"paired comparisons over {over} against every other group"
                if paired
                else "two-sample permutation over each group's prompts against every other group"
            )
            + f", Holm over the claim's {family} metric(s) < {finding.alpha:g}"
            for m, (_, _, paired) in readings.items()
        }
    design = samples_design(finding, frame, column).summary() if column is not None else ""
    out = []
    for metric in finding.metrics:
        if metric in readings:
            measured, verdict, _ = readings[metric]
            basis = bases[metric]
        elif metric in unpaired:
            measured, verdict, basis = "not computed", NO_VERDICT_RUN_METRIC, ""
        else:
            measured, verdict, basis = "not computed", NO_VERDICT_MISSING, ""
        target = f" ({finding.target})" if finding.target else ""
        out.append(
            Finding(claim, metric, finding.compare, f"{finding.expect}{target}", measured, verdict, design, basis)
        )
    return out


def samples_design(finding: FindingConfig, samples: pd.DataFrame, column: str) -> DesignFloor:
    """`design_floor` of the prompts and values the study's samples hold (what it was run with)."""
    tags = {name: f"tag.{name}" for name in _tag_names(finding) if f"tag.{name}" in samples.columns}
    rows = _study_rows(samples).drop_duplicates("prompt_id")
    prompts = [
        SimpleNamespace(
            expected_class=None,
            tags={name: str(row[col]) for name, col in tags.items() if pd.notna(row[col])},
        )
        for _, row in rows.iterrows()
    ]
    settings = 1 if finding.compare.startswith("tag.") else int(samples[column].astype(str).nunique())
    return design_floor(finding, prompts, settings)


def _tag_names(finding: FindingConfig) -> list[str]:
    return [c.removeprefix("tag.") for c in (finding.compare, finding.pair_by or "") if c.startswith("tag.")]


def _overruled(verdict: str, metric: str, runs: Sequence[Mapping[str, Any]], random_weights: bool) -> str:
    """Random weights test the pipeline (the model's, or the scorer's own: `<scorer>/random_weights` in a run's
    metrics), and an unvalidated probe's labels are not what images show."""
    if verdict == NO_VERDICT_MISSING:
        return verdict
    scorer = metric.replace("/", ".").split(".")[0]
    if random_weights or any(run["metrics"].get(f"{scorer}/random_weights") == 1.0 for run in runs):
        return NO_VERDICT_RANDOM
    if scorer in PROBE_SCORERS and any(run["metrics"].get(f"{scorer}/validated") != 1.0 for run in runs):
        return NO_VERDICT_UNVALIDATED
    return verdict


def findings_table(rows: Sequence[Finding]) -> pd.DataFrame:
    return pd.DataFrame([row.as_dict() for row in rows], columns=COLUMNS)


# --- what a design can decide, before any sample exists ---------------------------------------------------

POWER = 0.8  # the power a design's minimum detectable effect (MDE) is stated at


@dataclass(frozen=True)
class DesignFloor:
    """What a finding's design can decide, whatever the model does: the smallest Holm-adjusted p its tests
    can reach (below `alpha`: it can decide; else the claim can never be supported), and the effect it
    detects with 80% power (`mde`, in SD of the per-prompt quantity its test reads), with the power at the
    effect the study states (`finding.effect`), if any."""

    metric: str
    expect: str
    compare: str
    design: str  # its units and test, e.g. "3 study prompts, one-sided sign-flip over prompts"
    p: float
    alpha: float
    n_prompts: int = 0
    mde: float | None = None  # None: no effect is detected with 80% power (the design cannot decide)
    effect: float | None = None
    power: float | None = None  # at `effect`
    unit: str = "SD"
    counted: str = ""  # the units in words ("40 study prompts", "12 subjects x 4 styles"); "": n_prompts

    @property
    def can_decide(self) -> bool:
        return self.p < self.alpha

    def summary(self) -> str:
        """One cell of the Findings table: n, MDE and the power at the stated effect, or why it cannot decide."""
        n = self.counted or _prompts(self.n_prompts)
        if not self.can_decide:
            return f"{n}: cannot decide (smallest p_holm {_fmt(self.p)} >= {self.alpha:g})"
        text = f"{n}; MDE {self.mde:.2g} {self.unit} at {POWER:.0%} power"
        if self.effect is not None and self.power is not None:
            text += f"; power {self.power:.2f} at the stated {self.effect:g} {self.unit}"
        return text

    def line(self) -> str:
        head = (
            f"finding {self.metric} ({self.expect} over {self.compare}): {self.design}; smallest p_holm {_fmt(self.p)}"
        )
        if self.can_decide:
            return f"{head} < alpha {self.alpha:g}: {self.summary()}"
        return f"{head} >= alpha {self.alpha:g}: it can never be supported, at any effect; add prompts"


def _prompts(n: int) -> str:
    return f"{n} study prompt{'' if n == 1 else 's'}"


def t_power(effect: float, n_units: float, df: int, alpha: float, *, two_sided: bool) -> float:
    """Power of a t-test at `alpha` for a standardised effect (mean / SD of the unit differences) over units
    whose noncentrality is effect * sqrt(n_units): the noncentral t (scipy.stats.nct).

    The verdict tests are sign-flip and permutation tests over prompts; the t-test's power is how they are
    sized (at 12 prompts the two agreed within 0.03 in the seeded simulations of the verdict rules)."""
    from scipy import stats as sps

    ncp = effect * math.sqrt(n_units)
    crit = sps.t.ppf(1 - alpha / 2 if two_sided else 1 - alpha, df)
    power = sps.nct.sf(crit, df, ncp) + (sps.nct.cdf(-crit, df, ncp) if two_sided else 0.0)
    # nct's series fails far in its tail, where the power is 0 or 1 to many digits
    return float(power) if np.isfinite(power) else float(ncp > crit)


def t_mde(n_units: float, df: int, alpha: float, *, two_sided: bool, power: float = POWER) -> float | None:
    """The standardised effect `t_power` detects with `power` (None below 2 degrees of freedom)."""
    from scipy.optimize import brentq

    if df < 1 or t_power(20.0, n_units, df, alpha, two_sided=two_sided) < power:
        return None
    return float(brentq(lambda d: t_power(d, n_units, df, alpha, two_sided=two_sided) - power, 1e-6, 20.0))


def design_floor(finding: FindingConfig, prompts: Sequence[Any], settings: int) -> DesignFloor:
    """What the verdict rules above can reach with the suite's `prompts` (PromptConfig: `expected_class`,
    `tags`) and `settings` swept values of `compare` (1 when `compare` is a tag).

    Each rule's p has a floor set by its units alone: a trend's one-sided sign-flip over J prompts cannot go
    below 1 / 2^J, a paired sign-flip below 2 / 2^J, a two-sample permutation below 2 / C(n1 + n2, n1), and
    Holm multiplies the smallest by the family's size. Control prompts (with an expected class) validate
    probes and exploratory ones (`role: exploratory`) are read apart: neither takes part. The power is the
    t-test's, at alpha divided by the number of tests the claim needs (Bonferroni, which Holm's first step
    is): per metric for a trend, per metric and contrast for a rank claim. A rank claim needs all of its
    contrasts: its power is the union bound 1 - sum of each contrast's miss rate, which Holm only raises.
    """
    study = [p for p in prompts if not getattr(p, "expected_class", None) and not is_exploratory(p)]
    m = len(finding.metrics)
    if finding.compare.startswith("tag.") and (finding.pair_by or "").startswith("tag."):
        shape = _paired_tag_design(finding, study, m)
    elif finding.compare.startswith("tag."):
        shape = _two_sample_design(finding, study, m)
    elif finding.expect in ("increase", "decrease"):
        n = len(study)
        if settings < 2:
            design, p = f"{settings} value of {finding.compare}: no trend to test", 1.0
        else:
            floor = smallest_sign_flip_p(n, BootstrapOptions().resamples, two_sided=False)
            design = f"{_prompts(n)} at {settings} values, one-sided sign-flip over prompts"
            p = min(1.0, m * floor)
        shape = _Shape(design, p, n, n, n - 1, m, False, 1, _prompts(n))
    else:
        n = len(study)
        floor = smallest_sign_flip_p(n, BootstrapOptions().resamples, two_sided=True)
        contrasts = max(settings - 1, 1)
        floors = [floor] * (m * max(settings - 1, 0))
        design = f"{_prompts(n)} at {settings} values, paired sign-flip over prompts"
        p = float(holm(floors).max()) if floors else 1.0
        shape = _Shape(design, p, n, n, n - 1, m * contrasts, True, contrasts, _prompts(n))
    family = f", Holm over {m} metrics" if m > 1 else ""
    level = finding.alpha / shape.tests
    decides = shape.p < finding.alpha
    # Every contrast must pass: the t-test's power for each is set so that their misses sum to 1 - POWER.
    each = 1 - (1 - POWER) / shape.contrasts
    mde = t_mde(shape.units, shape.df, level, two_sided=shape.two_sided, power=each) if decides else None
    power = None
    if decides and finding.effect is not None:
        single = t_power(finding.effect, shape.units, shape.df, level, two_sided=shape.two_sided)
        power = max(0.0, 1 - shape.contrasts * (1 - single))
    unit = "SD of the per-prompt slope" if finding.expect in ("increase", "decrease") else "SD"
    return DesignFloor(
        finding.metric,
        finding.expect,
        finding.compare,
        shape.design + family,
        shape.p,
        finding.alpha,
        shape.n,
        mde,
        finding.effect,
        power,
        unit,
        shape.counted,
    )


@dataclass(frozen=True)
class _Shape:
    """A design's test and units: its p floor, the t-test's units and degrees of freedom, the number of tests
    alpha is shared by, and the contrasts per metric that must all pass."""

    design: str
    p: float
    n: int
    units: float
    df: int
    tests: int
    two_sided: bool
    contrasts: int
    counted: str  # the units in words: "40 study prompts", "12 subjects x 4 styles"


def _two_sample_design(finding: FindingConfig, study: Sequence[Any], m: int) -> _Shape:
    """Target's prompts against each other value's by a two-sample permutation (different prompts per value)."""
    tag = finding.compare.removeprefix("tag.")
    sizes: dict[str, int] = {}
    for prompt in study:
        if tag in (prompt.tags or {}):
            value = str(prompt.tags[tag])
            sizes[value] = sizes.get(value, 0) + 1
    target = sizes.get(str(finding.target), 0)
    others = [k for value, k in sizes.items() if value != str(finding.target)]
    floors = [smallest_two_sample_p(target, k, BootstrapOptions().resamples) for k in others] * m
    listed = ", ".join(f"{value} {k}" for value, k in sorted(sizes.items()))
    design = f"prompts per {tag}: {listed or 'none'}; two-sample permutation over prompts"
    p = float(holm(floors).max()) if floors and target else 1.0
    n = sum(sizes.values())
    smallest = min(others, default=0)  # the weakest contrast decides whether all pass
    units = target * smallest / (target + smallest) if target and smallest else 0.0
    contrasts = max(len(others), 1)
    return _Shape(design, p, n, units, target + smallest - 2, m * contrasts, True, contrasts, _prompts(n))


def _paired_tag_design(finding: FindingConfig, study: Sequence[Any], m: int) -> _Shape:
    """Target against each other value of the tag, paired by `pair_by` (the same subject in every style): the
    units are the pairing values that hold every value of the tag; a paired sign-flip over them per contrast."""
    tag, pair = finding.compare.removeprefix("tag."), str(finding.pair_by).removeprefix("tag.")
    held: dict[str, set[str]] = {}
    values: set[str] = set()
    for prompt in study:
        tags = prompt.tags or {}
        if tag in tags and pair in tags:
            held.setdefault(str(tags[pair]), set()).add(str(tags[tag]))
            values.add(str(tags[tag]))
    n = sum(1 for kept in held.values() if kept == values) if str(finding.target) in values else 0
    contrasts = max(len(values) - 1, 1)
    floor = smallest_sign_flip_p(n, BootstrapOptions().resamples, two_sided=True)
    p = float(holm([floor] * (m * contrasts)).max()) if len(values) > 1 else 1.0
    counted = f"{n} {pair}{'' if n == 1 else 's'} x {len(values)} {tag}s"
    design = f"{counted}, paired sign-flip over {pair}s per contrast ({contrasts})"
    return _Shape(design, p, n, n, n - 1, m * contrasts, True, contrasts, counted)


def design_floors(points: Sequence[Sequence[str]]) -> list[DesignFloor]:
    """What each distinct finding of a command's jobs (each job's overrides) can decide: one design floor per
    suite and finding, its settings counted over the jobs as the values of the finding's `compare`."""
    configs = [job_config(point) for point in points]
    floors: dict[tuple[str, str], DesignFloor] = {}
    for point in points:
        rc = typed_job(point)
        if rc.finding is None or rc.suite is None or rc.suite.path is not None:
            continue  # prompts read from a file are counted when the job loads them
        key = (rc.suite.name, json.dumps(dataclasses.asdict(rc.finding), sort_keys=True))
        if key not in floors:
            settings = len({str(compared_value(cfg, rc.finding.compare)) for cfg in configs})
            floors[key] = design_floor(rc.finding, rc.suite.prompts, settings)
    return list(floors.values())


_ABSENT = object()


def compared_value(cfg: DictConfig, compare: str) -> object:
    """The job's value of a finding's `compare`: a config key, or a sampler field by its samples column."""
    return OmegaConf.select(cfg, config_key(compare), default=_ABSENT)
