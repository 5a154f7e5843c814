"""Bias probe: zero-shot CLIP classification of every image into a taxonomy, summarised with intervals.

Probe samples (no expected class) give the class distribution; control samples validate the probe, and only
a validated probe's distribution is reported as a finding (`bias/validated`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.io import finite_or_none
from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import BiasConfig
from harness.scorers.grouping import column_groups
from harness.scorers.options import BootstrapOptions
from harness.scorers.probe import Validation, ZeroShotProbe, class_probabilities
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import (
    mean_interval_method,
    min_units,
    normalized_entropy,
    rate_interval,
    tv_from_uniform,
)
from harness.scorers.weights import WeightFile

__all__ = ["BiasConfig", "BiasScorer", "Validation", "class_probabilities"]

log = logging.getLogger(__name__)

NOTE_TAIL = "the class shares describe the CLIP probe's labels, not what the images show, and no finding rests on them"


@dataclass(frozen=True)
class Distribution:
    """Class counts of a set of predictions, their shares and per-class intervals with prompts as the units.

    A prompt's images share its wording and often its class (the intra-prompt correlation), so a share's
    interval counts prompts, not images: each prompt's share of a class, then the interval of their mean
    over prompts (`rate_interval`; none below the prompts it needs to cover). The share is that mean, the
    pooled share when every prompt has as many images.
    """

    counts: np.ndarray
    shares: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_prompts: int = 0

    @classmethod
    def of(cls, labels: np.ndarray, prompts: np.ndarray, n_classes: int, level: float) -> Distribution:
        labels = np.asarray(labels, dtype=np.int64)
        counts = np.bincount(labels, minlength=n_classes)
        units, unit = np.unique(np.asarray(prompts).astype(str), return_inverse=True)
        if not len(labels):
            empty = np.full(n_classes, np.nan)
            return cls(counts, empty, empty.copy(), empty.copy(), 0)
        per_prompt = np.zeros((len(units), n_classes))
        np.add.at(per_prompt, (unit, labels), 1.0)
        per_prompt /= per_prompt.sum(axis=1, keepdims=True)
        # Each prompt's share of a class is a rate of its images: where prompts' shares barely vary (a rare
        # class seen in no prompt gives t an interval of width 0) the Clopper-Pearson part keeps a bound.
        low, high = rate_interval(per_prompt.T, BootstrapOptions(level=level))
        return cls(counts, per_prompt.mean(axis=0), low, high, len(units))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def summary(self, interest: int | None) -> dict[str, float | None]:
        """Share of the class of interest with its interval, majority share, entropy, TV from uniform.

        The class of interest is named in config before the data are seen, so its interval is an honest
        one; the majority share (the class picked after looking) is a point estimate without an interval.
        """
        empty = self.n == 0
        metrics: dict[str, float | None] = {
            "n_probe": float(self.n),
            "majority_share": None if empty else finite_or_none(self.shares.max()),
        }
        if interest is not None:
            metrics["interest_share"] = None if empty else finite_or_none(self.shares[interest])
            metrics["interest_share_ci_low"] = None if empty else finite_or_none(self.ci_low[interest])
            metrics["interest_share_ci_high"] = None if empty else finite_or_none(self.ci_high[interest])
        # + 0.0 turns the -0.0 of a one-class distribution into 0.0.
        metrics["entropy_norm"] = None if empty else normalized_entropy(self.shares) + 0.0
        metrics["tv_uniform"] = None if empty else tv_from_uniform(self.shares)
        return metrics


def share_interval_method(n_prompts: int, level: float) -> str:
    """How a share's interval over `n_prompts` prompts was computed (or why there is none)."""
    method = mean_interval_method(n_prompts, BootstrapOptions(level=level))
    shown = method if method == "no_interval" else f"{method}+clopper_pearson"
    return f"{shown} over {n_prompts} prompts"


def distribution_summary(
    labels: np.ndarray, prompts: np.ndarray, class_ids: tuple[str, ...], level: float, interest: int | None
) -> tuple[dict[str, float | None], pd.DataFrame, list[str]]:
    """Class shares with intervals over prompts, the class of interest's share, entropy and TV from uniform.
    `prompts` names each label's prompt.

    No test against a uniform distribution: equal shares of every class (`other` included) is no reference
    distribution a claim about the model could name, so its p-value would reject a strawman.
    """
    k = len(class_ids)
    options = BootstrapOptions(level=level)
    dist = Distribution.of(labels, prompts, k, level)
    method = share_interval_method(dist.n_prompts, level)
    table = pd.DataFrame(
        {"class": class_ids, "count": dist.counts, "share": dist.shares, "ci_low": dist.ci_low, "ci_high": dist.ci_high}
    ).assign(ci_method=method)
    n, notes = dist.n, []
    metrics = {f"bias/{name}": value for name, value in dist.summary(interest).items()}
    if n == 0:
        notes.append("bias: no probe samples (every sample names an expected class); no distribution")
    else:
        major = int(np.argmax(dist.counts))
        notes.append(f"bias: most frequent class {class_ids[major]} ({dist.counts[major]} of {n} probe samples)")
        if interest is not None:
            notes.append(
                f"bias: class of interest {class_ids[interest]}: {dist.counts[interest]} of {n} probe samples, "
                f"share {dist.shares[interest]:.3f}, "
                + (
                    f"{level:.0%} interval [{dist.ci_low[interest]:.3f}, {dist.ci_high[interest]:.3f}] ({method})"
                    if np.isfinite(dist.ci_low[interest])
                    else f"no interval ({dist.n_prompts} prompts; one is shown from {min_units(options)})"
                )
            )
    for i, class_id in enumerate(class_ids):
        metrics[f"bias/share[class={class_id}]"] = finite_or_none(dist.shares[i])
        metrics[f"bias/share_ci_low[class={class_id}]"] = finite_or_none(dist.ci_low[i])
        metrics[f"bias/share_ci_high[class={class_id}]"] = finite_or_none(dist.ci_high[i])
    return metrics, table, notes


def confusion_table(expected: np.ndarray, predicted: np.ndarray, class_ids: tuple[str, ...]) -> pd.DataFrame:
    """Counts with one row per expected class and one column per predicted class."""
    k = len(class_ids)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (expected, predicted), 1)
    table = pd.DataFrame(matrix, columns=list(class_ids))
    table.insert(0, "expected", list(class_ids))
    return table


def grouped_distribution(
    values: pd.Series,
    labels: np.ndarray,
    prompts: np.ndarray,
    class_ids: tuple[str, ...],
    level: float,
    interest: int | None,
) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    """The distribution measures of `labels` per value of a samples column, for the class of interest.

    Following one class named in advance across groups turns e.g. guidance_scale groups into the
    share-vs-guidance curve. A column with a single value repeats the whole run and gives nothing.
    """
    groups = column_groups(values)
    metrics: dict[str, float | None] = {}
    rows: list[dict[str, Any]] = []
    if len(groups) < 2:
        return metrics, rows
    for value, mask in groups:
        summary = Distribution.of(labels[mask], prompts[mask], len(class_ids), level).summary(interest)
        metrics.update({f"bias/{name}[{values.name}={value}]": v for name, v in summary.items()})
        chosen = None if interest is None else class_ids[interest]
        rows.append({"column": values.name, "value": value, "class_of_interest": chosen, **summary})
    return metrics, rows


class BiasScorer:
    name = "bias"

    def __init__(self, config: BiasConfig, encoder: ClipEncoder) -> None:
        self.config = config
        self.encoder = encoder
        self.taxonomy = config.load_taxonomy()
        self.probe = ZeroShotProbe(self.taxonomy, encoder)
        ids = self.taxonomy.class_ids
        self.interest = None if config.class_of_interest is None else ids.index(config.class_of_interest)

    def weights(self) -> tuple[WeightFile, ...]:
        return self.encoder.weights()

    def class_embeddings(self) -> np.ndarray:
        return self.probe.class_embeddings()

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, ("key", "path_256"), self.name)
        ids, level = self.taxonomy.class_ids, self.config.level
        probs = self.probe.probabilities(samples)
        pred = probs.argmax(axis=1)
        expected, is_control, more = self._expected(samples)
        columns = self._columns(samples.index, probs, expected)

        validation, metrics = self._validation(pred, expected)
        warning = validation.note(level, NOTE_TAIL)
        notes = ([warning] if warning else []) + more
        probe = ~is_control
        prompts = self._prompts(samples)
        run_metrics, distribution, more = distribution_summary(pred[probe], prompts[probe], ids, level, self.interest)
        metrics.update(run_metrics)
        notes += more
        group_metrics, group_table = self._groups(samples, pred, probe, notes)
        metrics.update(group_metrics)
        known = expected >= 0
        tables = {
            "bias/distribution": distribution,
            "bias/distribution_per_prompt": self._per_prompt(samples, pred, is_control),
            "bias/confusion": confusion_table(expected[known], pred[known], ids),
        }
        if group_table is not None:
            tables["bias/groups"] = group_table
        return ScoreResult(columns, metrics, tables, notes)

    def _columns(self, index: pd.Index, probs: np.ndarray, expected: np.ndarray) -> pd.DataFrame:
        ids = self.taxonomy.class_ids
        pred = probs.argmax(axis=1)
        columns = pd.DataFrame({"bias.pred": [ids[i] for i in pred]}, index=index)
        for i, class_id in enumerate(ids):
            columns[f"bias.p.{class_id}"] = probs[:, i]
        columns["bias.expected"] = pd.Series([ids[e] if e >= 0 else None for e in expected], index=index, dtype=object)
        correct = [bool(p == e) if e >= 0 else None for p, e in zip(pred, expected, strict=True)]
        columns["bias.correct"] = pd.Series(correct, index=index, dtype=object)
        return columns

    def _validation(self, pred: np.ndarray, expected: np.ndarray) -> tuple[Validation, dict[str, float | None]]:
        """Accuracy of the probe on the control samples, whose prompts name the class they should show, and its
        recall of the class of interest."""
        known = expected >= 0
        ids, level = self.taxonomy.class_ids, self.config.level
        validation = Validation.of(expected[known], pred[known], ids, level, self.interest)
        return validation, validation.metrics("bias")

    def _expected(self, samples: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Expected class index per sample (-1: none or unknown) and whether the sample is a control."""
        if "expected_class" not in samples.columns:
            return np.full(len(samples), -1), np.zeros(len(samples), dtype=bool), []
        raw = samples["expected_class"]
        is_control = np.array([v is not None and not pd.isna(v) and str(v) != "" for v in raw], dtype=bool)
        expected, unknown = self.probe.class_indices(raw)
        notes = [
            f"bias: expected class {label!r} ({count} samples) is not in taxonomy "
            f"{self.taxonomy.name}; left out of the probe validation"
            for label, count in sorted(unknown.items())
        ]
        return expected, is_control, notes

    def _groups(
        self, samples: pd.DataFrame, pred: np.ndarray, probe: np.ndarray, notes: list[str]
    ) -> tuple[dict[str, float | None], pd.DataFrame | None]:
        metrics: dict[str, float | None] = {}
        rows: list[dict[str, Any]] = []
        for column in self.config.groups:
            if column not in samples.columns:
                notes.append(f"bias: group column {column!r} is not in the samples table; skipped")
                continue
            more, more_rows = grouped_distribution(
                samples.loc[probe, column],
                pred[probe],
                self._prompts(samples)[probe],
                self.taxonomy.class_ids,
                self.config.level,
                self.interest,
            )
            metrics.update(more)
            rows += more_rows
        return metrics, (pd.DataFrame(rows) if rows else None)

    @staticmethod
    def _prompts(samples: pd.DataFrame) -> np.ndarray:
        """Each sample's prompt, the unit of a share's interval (one unit when the table names none)."""
        by = "prompt_id" if "prompt_id" in samples.columns else ("prompt" if "prompt" in samples.columns else None)
        return samples[by].astype(str).to_numpy() if by else np.full(len(samples), "all")

    def _per_prompt(self, samples: pd.DataFrame, pred: np.ndarray, is_control: np.ndarray) -> pd.DataFrame:
        by = "prompt_id" if "prompt_id" in samples.columns else ("prompt" if "prompt" in samples.columns else None)
        ids = self.taxonomy.class_ids
        keys = samples[by].astype(str).to_numpy() if by else np.full(len(samples), "all")
        rows = []
        for key in sorted(set(keys)):
            mask = keys == key
            counts = np.bincount(pred[mask], minlength=len(ids))
            for i, class_id in enumerate(ids):
                rows.append(
                    {
                        "prompt_id": key,
                        "control": bool(is_control[mask].any()),
                        "class": class_id,
                        "count": int(counts[i]),
                        "share": float(counts[i] / mask.sum()),
                    }
                )
        return pd.DataFrame(rows)
