"""Zero-shot CLIP probes: a taxonomy's class embeddings, per-image class probabilities, control validation.

The bias scorer (a distribution over classes for open prompts) and the style scorer (the probability of the
class each prompt names) are both this probe with different summaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.numbers import finite_or_none
from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.stats import PROPORTION_METHOD, proportion_interval
from harness.scorers.taxonomy import Taxonomy


def class_probabilities(images: np.ndarray, classes: np.ndarray, logit_scale: float) -> np.ndarray:
    """softmax(logit_scale * cos(image, class)) over classes, as in CLIP's zero-shot classifier."""
    logits = logit_scale * (images @ classes.T)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


class ZeroShotProbe:
    """A taxonomy read by a CLIP encoder: one unit embedding per class, probabilities per image."""

    def __init__(self, taxonomy: Taxonomy, encoder: ClipEncoder) -> None:
        self.taxonomy = taxonomy
        self.encoder = encoder
        self._class_embeddings: np.ndarray | None = None

    def class_embeddings(self) -> np.ndarray:
        """One unit vector per class: the normalised mean of its prompt ensemble's text embeddings."""
        if self._class_embeddings is None:
            taxonomy = self.taxonomy
            matrix = np.stack(
                [self.encoder.text_embeddings(taxonomy.prompts(c)).mean(axis=0) for c in taxonomy.classes]
            )
            self._class_embeddings = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return self._class_embeddings

    def probabilities(self, samples: pd.DataFrame) -> np.ndarray:
        """(n samples, K classes) zero-shot probabilities of the 256px images."""
        images = self.encoder.image_embeddings(list(samples["path_256"]), list(samples["key"]))
        return class_probabilities(images, self.class_embeddings(), self.encoder.logit_scale)

    def class_indices(self, labels: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
        """Class index per label (-1: none given or not in the taxonomy) and the unknown labels' counts."""
        ids = self.taxonomy.class_ids
        out = np.full(len(labels), -1)
        unknown: dict[str, int] = {}
        for i, value in enumerate(labels.to_numpy(dtype=object)):
            if value is None or pd.isna(value) or str(value) == "":
                continue
            class_id = self.taxonomy.class_id_for(str(value))
            if class_id is None:
                unknown[str(value)] = unknown.get(str(value), 0) + 1
            else:
                out[i] = ids.index(class_id)
        return out, unknown


@dataclass(frozen=True)
class Validation:
    """The probe's accuracy on control samples and whether it is above chance with confidence."""

    n: int
    correct: int
    ci_low: float | None
    ci_high: float | None
    chance: float

    @classmethod
    def of(cls, correct: np.ndarray, n_classes: int, level: float) -> Validation:
        n, k = len(correct), int(np.sum(correct))
        low, high = proportion_interval(k, n, level)
        return cls(n, k, finite_or_none(float(low)), finite_or_none(float(high)), 1.0 / n_classes)

    @property
    def validated(self) -> bool:
        """Controls exist and the lower bound of the accuracy's interval is above chance (1/K)."""
        return self.n > 0 and self.ci_low is not None and self.ci_low > self.chance

    def metrics(self, prefix: str) -> dict[str, float | None]:
        return {
            f"{prefix}/validated": 1.0 if self.validated else 0.0,
            f"{prefix}/probe_n": float(self.n),
            f"{prefix}/probe_accuracy": self.correct / self.n if self.n else None,
            f"{prefix}/probe_accuracy_ci_low": self.ci_low,
            f"{prefix}/probe_accuracy_ci_high": self.ci_high,
            f"{prefix}/chance": self.chance,
        }

    def note(self, level: float, tail: str) -> str | None:
        """The UNVALIDATED warning a reader cannot miss, or None for a validated probe."""
        if self.validated:
            return None
        if self.n == 0:
            return f"UNVALIDATED: the run holds no control prompts (rows with expected_class); {tail}"
        return (
            f"UNVALIDATED: probe accuracy {self.correct}/{self.n} on the control prompts, {level:.0%} "
            f"{PROPORTION_METHOD} lower bound {self.ci_low:.3f}, is not above chance 1/K = {self.chance:.3f}; {tail}"
        )
