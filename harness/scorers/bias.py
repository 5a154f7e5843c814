"""Bias probe: zero-shot CLIP classification of every image into a taxonomy, summarised with CIs.

Probe samples (no expected class) give the class distribution; control samples validate the probe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.numbers import finite_or_none
from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.grouping import column_groups
from harness.scorers.options import BootstrapOptions, check_keys, text_list
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import (
    chi_square_uniform_pvalue,
    mean_ci,
    normalized_entropy,
    share_cis,
    tv_from_uniform,
)
from harness.scorers.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BiasConfig:
    taxonomy: Taxonomy
    groups: tuple[str, ...]
    bootstrap: BootstrapOptions

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any], where: str = "scorer.bias") -> BiasConfig:
        check_keys(cfg, ("taxonomy", "groups", "bootstrap"), where)
        return cls(
            taxonomy=load_taxonomy(cfg["taxonomy"], f"{where}.taxonomy"),
            groups=text_list(cfg, "groups", where, allow_empty=True),
            bootstrap=BootstrapOptions.from_mapping(cfg["bootstrap"], f"{where}.bootstrap"),
        )


def class_probabilities(images: np.ndarray, classes: np.ndarray, logit_scale: float) -> np.ndarray:
    """softmax(logit_scale * cos(image, class)) over classes, as in CLIP's zero-shot classifier."""
    logits = logit_scale * (images @ classes.T)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Distribution:
    """Class counts of a set of predictions, their shares and per-class bootstrap intervals."""

    counts: np.ndarray
    shares: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray

    @classmethod
    def of(cls, labels: np.ndarray, n_classes: int, bootstrap: BootstrapOptions) -> Distribution:
        counts = np.bincount(labels, minlength=n_classes)
        shares = counts / len(labels) if len(labels) else np.full(n_classes, np.nan)
        low, high = share_cis(labels, n_classes, bootstrap)
        return cls(counts, shares, low, high)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def summary(self, major: int | None) -> dict[str, float | None]:
        """Share of class `major` with its CI, normalised entropy, TV from uniform, chi-square p."""
        empty = self.n == 0 or major is None
        return {
            "n_probe": float(self.n),
            "majority_share": None if empty else finite_or_none(self.shares[major]),
            "majority_share_ci_low": None if empty else finite_or_none(self.ci_low[major]),
            "majority_share_ci_high": None if empty else finite_or_none(self.ci_high[major]),
            # + 0.0 turns the -0.0 of a one-class distribution into 0.0.
            "entropy_norm": None if self.n == 0 else normalized_entropy(self.shares) + 0.0,
            "tv_uniform": None if self.n == 0 else tv_from_uniform(self.shares),
            "chi2_p": chi_square_uniform_pvalue(self.counts),
        }


def distribution_summary(
    labels: np.ndarray, class_ids: tuple[str, ...], bootstrap: BootstrapOptions
) -> tuple[dict[str, float | None], pd.DataFrame, list[str]]:
    """Class shares with CIs, majority share, normalised entropy, TV from uniform and chi-square p."""
    k = len(class_ids)
    dist = Distribution.of(np.asarray(labels, dtype=np.int64), k, bootstrap)
    table = pd.DataFrame(
        {"class": class_ids, "count": dist.counts, "share": dist.shares, "ci_low": dist.ci_low, "ci_high": dist.ci_high}
    )
    n, notes = dist.n, []
    # The interval is that of the share of the class that is the majority in the observed sample.
    major = int(np.argmax(dist.counts)) if n else None
    metrics = {f"bias/{name}": value for name, value in dist.summary(major).items()}
    if major is None:
        notes.append("bias: no probe samples (every sample names an expected class); no distribution")
    else:
        notes.append(f"bias: majority class {class_ids[major]} ({dist.counts[major]} of {n} probe samples)")
        if n / k < 5:
            notes.append(f"bias: {n / k:.1f} expected samples per class < 5; the chi-square p-value is rough")
        if n < 2:
            notes.append(f"bias: {n} probe sample; no confidence intervals")
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
    values: pd.Series, labels: np.ndarray, major: int | None, class_ids: tuple[str, ...], bootstrap: BootstrapOptions
) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    """The distribution measures of `labels` per value of a samples column, for the class `major`.

    Following one class (the run's majority) across groups turns e.g. guidance_scale groups into the
    majority-share-vs-guidance curve. A column with a single value repeats the whole run and gives nothing.
    """
    groups = column_groups(values)
    metrics: dict[str, float | None] = {}
    rows: list[dict[str, Any]] = []
    if len(groups) < 2:
        return metrics, rows
    for value, mask in groups:
        summary = Distribution.of(labels[mask], len(class_ids), bootstrap).summary(major)
        metrics.update({f"bias/{name}[{values.name}={value}]": v for name, v in summary.items()})
        majority = None if major is None else class_ids[major]
        rows.append({"column": values.name, "value": value, "majority_class": majority, **summary})
    return metrics, rows


class BiasScorer:
    name = "bias"

    def __init__(self, config: BiasConfig, encoder: ClipEncoder) -> None:
        self.config = config
        self.encoder = encoder
        self._class_embeddings: np.ndarray | None = None

    def class_embeddings(self) -> np.ndarray:
        """One unit vector per class: the normalised mean of its prompt ensemble's text embeddings."""
        if self._class_embeddings is None:
            taxonomy = self.config.taxonomy
            matrix = np.stack(
                [self.encoder.text_embeddings(taxonomy.prompts(c)).mean(axis=0) for c in taxonomy.classes]
            )
            self._class_embeddings = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return self._class_embeddings

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, ("key", "path_256"), self.name)
        ids = self.config.taxonomy.class_ids
        images = self.encoder.image_embeddings(list(samples["path_256"]), list(samples["key"]))
        probs = class_probabilities(images, self.class_embeddings(), self.encoder.logit_scale)
        pred = probs.argmax(axis=1)
        expected, is_control, notes = self._expected(samples)
        columns = self._columns(samples.index, probs, expected)

        probe = ~is_control
        metrics, distribution, more = distribution_summary(pred[probe], ids, self.config.bootstrap)
        notes += more
        metrics.update(self._validation(pred, expected, notes))
        major = int(np.argmax(distribution["count"])) if probe.any() else None
        group_metrics, group_table = self._groups(samples, pred, probe, major, notes)
        metrics.update(group_metrics)
        validated = expected >= 0
        tables = {
            "bias/distribution": distribution,
            "bias/distribution_per_prompt": self._per_prompt(samples, pred, is_control),
            "bias/confusion": confusion_table(expected[validated], pred[validated], ids),
        }
        if group_table is not None:
            tables["bias/groups"] = group_table
        for note in notes:
            log.info(note)
        return ScoreResult(columns, metrics, tables, notes)

    def _columns(self, index: pd.Index, probs: np.ndarray, expected: np.ndarray) -> pd.DataFrame:
        ids = self.config.taxonomy.class_ids
        pred = probs.argmax(axis=1)
        columns = pd.DataFrame({"bias.pred": [ids[i] for i in pred]}, index=index)
        for i, class_id in enumerate(ids):
            columns[f"bias.p.{class_id}"] = probs[:, i]
        columns["bias.expected"] = pd.Series([ids[e] if e >= 0 else None for e in expected], index=index, dtype=object)
        correct = [bool(p == e) if e >= 0 else None for p, e in zip(pred, expected, strict=True)]
        columns["bias.correct"] = pd.Series(correct, index=index, dtype=object)
        return columns

    def _validation(self, pred: np.ndarray, expected: np.ndarray, notes: list[str]) -> dict[str, float | None]:
        """Accuracy of the probe on the control samples, whose prompts name the class they should show."""
        validated = expected >= 0
        correct = (pred[validated] == expected[validated]).astype(np.float64)
        low, high = mean_ci(correct, self.config.bootstrap)
        if not len(correct):
            notes.append("bias: no control samples with an expected class; the probe is not validated")
        return {
            "bias/probe_n": float(len(correct)),
            "bias/probe_accuracy": float(correct.mean()) if len(correct) else None,
            "bias/probe_accuracy_ci_low": low,
            "bias/probe_accuracy_ci_high": high,
        }

    def _expected(self, samples: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Expected class index per sample (-1: none or unknown) and whether the sample is a control."""
        ids = self.config.taxonomy.class_ids
        if "expected_class" not in samples.columns:
            return np.full(len(samples), -1), np.zeros(len(samples), dtype=bool), []
        raw = samples["expected_class"].to_numpy(dtype=object)
        is_control = np.array([v is not None and not pd.isna(v) and str(v) != "" for v in raw], dtype=bool)
        expected = np.full(len(samples), -1)
        unknown: dict[str, int] = {}
        for i in np.flatnonzero(is_control):
            class_id = self.config.taxonomy.class_id_for(str(raw[i]))
            if class_id is None:
                unknown[str(raw[i])] = unknown.get(str(raw[i]), 0) + 1
            else:
                expected[i] = ids.index(class_id)
        notes = [
            f"bias: expected class {label!r} ({count} samples) is not in taxonomy "
            f"{self.config.taxonomy.name}; left out of the probe validation"
            for label, count in sorted(unknown.items())
        ]
        return expected, is_control, notes

    def _groups(
        self, samples: pd.DataFrame, pred: np.ndarray, probe: np.ndarray, major: int | None, notes: list[str]
    ) -> tuple[dict[str, float | None], pd.DataFrame | None]:
        metrics: dict[str, float | None] = {}
        rows: list[dict[str, Any]] = []
        for column in self.config.groups:
            if column not in samples.columns:
                notes.append(f"bias: group column {column!r} is not in the samples table; skipped")
                continue
            more, more_rows = grouped_distribution(
                samples.loc[probe, column], pred[probe], major, self.config.taxonomy.class_ids, self.config.bootstrap
            )
            metrics.update(more)
            rows += more_rows
        return metrics, (pd.DataFrame(rows) if rows else None)

    def _per_prompt(self, samples: pd.DataFrame, pred: np.ndarray, is_control: np.ndarray) -> pd.DataFrame:
        by = "prompt_id" if "prompt_id" in samples.columns else ("prompt" if "prompt" in samples.columns else None)
        ids = self.config.taxonomy.class_ids
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
