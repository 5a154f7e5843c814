"""Style adherence: the zero-shot probability of the art style each prompt names, per sample and per style.

A prompt's intended style is its `tag.style` (a class of the taxonomy, by id or name); control prompts that
name only the style (rows with expected_class) validate the probe, as they do for the bias probe.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import StyleConfig
from harness.scorers.probe import Validation, ZeroShotProbe
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import prompt_mean
from harness.scorers.weights import WeightFile

log = logging.getLogger(__name__)

NOTE_TAIL = "P(intended style) describes the CLIP probe's reading, not what the images show"


class StyleScorer:
    name = "style"

    def __init__(self, config: StyleConfig, encoder: ClipEncoder) -> None:
        self.config = config
        self.taxonomy = config.load_taxonomy()
        self.probe = ZeroShotProbe(self.taxonomy, encoder)

    def weights(self) -> tuple[WeightFile, ...]:
        """The shared CLIP model's weights (scorer.clip), which the clip scorer checks and fetches."""
        return ()

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        require_columns(samples, ("key", "path_256"), self.name)
        ids = self.taxonomy.class_ids
        probs = self.probe.probabilities(samples)
        pred = probs.argmax(axis=1)
        tag = f"tag.{self.config.tag}"
        labels = samples[tag] if tag in samples.columns else pd.Series([None] * len(samples), index=samples.index)
        intended, unknown = self.probe.class_indices(labels)
        expected_col = samples.get("expected_class", pd.Series([None] * len(samples), index=samples.index))
        expected, unknown_expected = self.probe.class_indices(expected_col)
        is_control = np.array([v is not None and not pd.isna(v) and str(v) != "" for v in expected_col], dtype=bool)

        known = expected >= 0
        validation = Validation.of(expected[known], pred[known], ids, self.config.level)
        p_intended = np.where(intended >= 0, probs[np.arange(len(samples)), np.maximum(intended, 0)], np.nan)
        columns = pd.DataFrame({"style.pred": [ids[i] for i in pred]}, index=samples.index)
        columns["style.intended"] = pd.Series([ids[i] if i >= 0 else None for i in intended], samples.index, object)
        columns["style.p_intended"] = p_intended
        for i, class_id in enumerate(ids):
            columns[f"style.p.{class_id}"] = probs[:, i]

        notes = self._notes(validation, tag, labels, unknown, unknown_expected)
        metrics = validation.metrics("style")
        units = samples["prompt_id" if "prompt_id" in samples.columns else "prompt"].to_numpy()
        probe = ~is_control & (intended >= 0)
        table = self._per_style(p_intended, intended, units, probe, validation.validated)
        metrics.update(self._mean("style/adherence", p_intended[probe], units[probe]))
        for row in table.itertuples():
            metrics[f"style/adherence[style={row.style}]"] = row.mean
            metrics[f"style/adherence_ci_low[style={row.style}]"] = row.ci_low
            metrics[f"style/adherence_ci_high[style={row.style}]"] = row.ci_high
        for note in notes:
            (log.warning if note.startswith("UNVALIDATED") else log.info)(note)
        return ScoreResult(columns, metrics, {"style/per_style": table}, notes)

    def _mean(self, name: str, values: np.ndarray, units: np.ndarray) -> dict[str, float | None]:
        mean, low, high, n = prompt_mean(values, units, self.config.bootstrap)
        return {name: mean, f"{name}_ci_low": low, f"{name}_ci_high": high, f"{name}_n_prompts": float(n)}

    def _per_style(
        self, p_intended: np.ndarray, intended: np.ndarray, units: np.ndarray, probe: np.ndarray, validated: bool
    ) -> pd.DataFrame:
        """Mean P(intended style) over the prompts of each style (controls left out), interval over prompts."""
        rows = []
        for i, class_id in enumerate(self.taxonomy.class_ids):
            mask = probe & (intended == i)
            if not mask.any():
                continue
            mean, low, high, n = prompt_mean(p_intended[mask], units[mask], self.config.bootstrap)
            rows.append(
                {
                    "style": class_id,
                    "n_prompts": n,
                    "n_samples": int(mask.sum()),
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "validated": validated,
                }
            )
        columns = ["style", "n_prompts", "n_samples", "mean", "ci_low", "ci_high", "validated"]
        return pd.DataFrame(rows, columns=columns)

    def _notes(
        self,
        validation: Validation,
        tag: str,
        labels: pd.Series,
        unknown: dict[str, int],
        unknown_expected: dict[str, int],
    ) -> list[str]:
        notes = [n for n in [validation.note(self.config.level, NOTE_TAIL)] if n]
        if labels.isna().all():
            notes.append(f"style: no sample has a {tag} column value; no adherence")
        name = self.taxonomy.name
        notes += [
            f"style: {tag} {label!r} ({count} samples) is not a style of taxonomy {name}; no adherence for it"
            for label, count in sorted(unknown.items())
        ]
        notes += [
            f"style: expected class {label!r} ({count} samples) is not in taxonomy {name}; left out of the validation"
            for label, count in sorted(unknown_expected.items())
        ]
        return notes
