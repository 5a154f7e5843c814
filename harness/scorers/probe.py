"""Zero-shot CLIP probes: a taxonomy's class embeddings, per-image class probabilities, control validation.

The bias scorer (a distribution over classes for open prompts) and the style scorer (the probability of the
class each prompt names) are both this probe with different summaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.io import finite_or_none
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
class Recall:
    """How often the probe names one class on the controls that show it, with its Clopper-Pearson interval."""

    class_id: str
    n: int
    correct: int
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Validation:
    """The probe's accuracy on control samples and whether it is above chance with confidence.

    Chance is 1 / the number of classes the controls name: a probe guessing uniformly among those classes
    is right that often, whatever else the taxonomy holds (`other`, classes no control names). A class of
    interest (the bias headline) must itself be recognised: its recall on its own controls has to clear
    chance too, or a probe blind to churches could report a church share.
    """

    n: int
    correct: int
    ci_low: float | None
    ci_high: float | None
    classes: int
    interest: Recall | None

    @classmethod
    def of(
        cls,
        expected: np.ndarray,
        predicted: np.ndarray,
        class_ids: tuple[str, ...],
        level: float,
        interest: int | None = None,
    ) -> Validation:
        """From the controls' expected and predicted class indices (controls only, one entry per sample)."""
        expected, predicted = np.asarray(expected), np.asarray(predicted)
        correct = expected == predicted
        n, k = len(correct), int(np.sum(correct))
        low, high = proportion_interval(k, n, level)
        recall = None
        if interest is not None:
            shown = expected == interest
            m, hits = int(shown.sum()), int(np.sum(correct[shown]))
            r_low, r_high = proportion_interval(hits, m, level)
            recall = Recall(class_ids[interest], m, hits, finite_or_none(float(r_low)), finite_or_none(float(r_high)))
        named = len(np.unique(expected))
        return cls(n, k, finite_or_none(float(low)), finite_or_none(float(high)), named, recall)

    @property
    def chance(self) -> float | None:
        """1 / the number of classes the controls name; None without controls."""
        return 1.0 / self.classes if self.classes else None

    @property
    def accurate(self) -> bool:
        """The accuracy's lower bound is above chance."""
        return self.n > 0 and self.ci_low is not None and self.ci_low > self.chance

    @property
    def recognises_interest(self) -> bool:
        """No class of interest, or its recall's lower bound is above chance."""
        recall = self.interest
        if recall is None:
            return True
        return self.chance is not None and recall.ci_low is not None and recall.n > 0 and recall.ci_low > self.chance

    @property
    def validated(self) -> bool:
        """Controls exist, accuracy clears chance and so does the recall of the class of interest."""
        return self.accurate and self.recognises_interest

    def metrics(self, prefix: str) -> dict[str, float | None]:
        metrics = {
            f"{prefix}/validated": 1.0 if self.validated else 0.0,
            f"{prefix}/probe_n": float(self.n),
            f"{prefix}/probe_accuracy": self.correct / self.n if self.n else None,
            f"{prefix}/probe_accuracy_ci_low": self.ci_low,
            f"{prefix}/probe_accuracy_ci_high": self.ci_high,
            f"{prefix}/probe_classes": float(self.classes),
            f"{prefix}/chance": self.chance,
        }
        recall = self.interest
        if recall is not None:
            metrics[f"{prefix}/probe_interest_n"] = float(recall.n)
            metrics[f"{prefix}/probe_interest_recall"] = recall.correct / recall.n if recall.n else None
            metrics[f"{prefix}/probe_interest_recall_ci_low"] = recall.ci_low
            metrics[f"{prefix}/probe_interest_recall_ci_high"] = recall.ci_high
        return metrics

    def note(self, level: float, tail: str) -> str | None:
        """The UNVALIDATED warning a reader cannot miss, one line naming every failed condition; None if validated."""
        if self.validated:
            return None
        if self.n == 0:
            return f"UNVALIDATED: the run holds no control prompts (rows with expected_class); {tail}"
        bound = f"{level:.0%} {PROPORTION_METHOD} lower bound"
        chance = f"chance 1/{self.classes} = {self.chance:.3f} ({self.classes} classes named by the controls)"
        reasons = []
        if not self.accurate:
            reasons.append(
                f"probe accuracy {self.correct}/{self.n} on the control prompts, {bound} {self.ci_low:.3f}, "
                f"is not above {chance}"
            )
        recall = self.interest
        if recall is not None and not self.recognises_interest:
            if recall.n == 0:
                reasons.append(f"no control prompt names the class of interest {recall.class_id}")
            else:
                reasons.append(
                    f"the class of interest {recall.class_id} is recognised on {recall.correct}/{recall.n} of its "
                    f"controls, {bound} {recall.ci_low:.3f}, not above chance {self.chance:.3f}"
                )
        return f"UNVALIDATED: {'; '.join(reasons)}; {tail}"
