"""Object presence (open-vocabulary detection, OWLv2/OWL-ViT) and phrase coverage (CLIPSeg) per sample.

A prompt lists the `objects` its image must show (a polar bear, a ship) and the `phrases` whose area matters
(house, lake); the samples table carries both as lists of strings, None where a prompt lists none.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from harness.scorers.configs import DetectConfig, slug
from harness.scorers.images import load_rgb
from harness.scorers.options import (
    STAGE_COLUMNS,
    BootstrapOptions,
    ScorerConfigError,
)
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import prompt_mean
from harness.scorers.tiny_models import build as build_tiny
from harness.scorers.tiny_models import is_tiny
from harness.scorers.weights import WeightFile, pretrained, require_folder_weights, weights_only_loads

log = logging.getLogger(__name__)

DETECTOR_TYPES = ("owlv2", "owlvit")


def text_items(value: Any, column: str, row: Any) -> tuple[str, ...]:
    """A cell of the `objects` or `phrases` column as a tuple of distinct stripped strings.

    None and NaN mean none listed; a bare string is one item; a parquet round trip turns lists into arrays.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence | np.ndarray):
        raise ValueError(f"detect: samples column {column!r}, row {row!r}: expected a list of strings, got {value!r}")
    out: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"detect: samples column {column!r}, row {row!r}: item {item!r} is not a string")
        if item.strip():
            out[item.strip()] = None
    return tuple(out)


def _column_items(samples: pd.DataFrame, column: str) -> list[tuple[str, ...]]:
    if column not in samples.columns:
        return [()] * len(samples)
    return [text_items(value, column, row) for row, value in samples[column].items()]


def max_query_scores(logits: torch.Tensor) -> torch.Tensor:
    """OWL logits (batch, boxes, queries) -> the best box's sigmoid score per query, (batch, queries).

    Each query's logit is computed from the box and query embeddings alone, so this is the score a one-query
    detection gives; it is not the post-processing's per-box argmax over queries, which hides a second object.
    """
    return torch.sigmoid(logits.float()).amax(dim=1)


def mask_coverage(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """CLIPSeg logits (n, H, W) -> the share of mask pixels whose sigmoid exceeds threshold, (n,)."""
    return (torch.sigmoid(logits.float()) > threshold).float().mean(dim=(-2, -1))


def _groups(items: list[tuple[str, ...]], rows_per_batch: int) -> list[tuple[tuple[str, ...], list[int]]]:
    """Positions that share one list of items, in batches of about `rows_per_batch` (image, item) rows;
    samples of one prompt share one forward."""
    by_items: dict[tuple[str, ...], list[int]] = {}
    for position, entry in enumerate(items):
        if entry:
            by_items.setdefault(entry, []).append(position)
    batches = []
    for entry, positions in by_items.items():
        size = max(1, rows_per_batch // len(entry))
        batches.extend((entry, positions[start : start + size]) for start in range(0, len(positions), size))
    return batches


class DetectScorer:
    name = "detect"

    def __init__(self, config: DetectConfig, *, device: str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        self._detector: tuple[Any, Any] | None = None
        self._segmenter: tuple[Any, Any] | None = None

    def weights(self) -> tuple[WeightFile, ...]:
        sources = (
            ("OWL detector (detect.objects)", self.config.detector),
            ("CLIPSeg segmenter (detect.phrases)", self.config.segmenter),
        )
        return tuple(pretrained(label, source) for label, source in sources if not is_tiny(source))

    def _load_detector(self) -> tuple[Any, Any]:
        if self._detector is None and is_tiny(self.config.detector):
            model, processor = build_tiny(self.config.detector)
            self._detector = (model.to(self.device), processor)
        if self._detector is None:
            from transformers import AutoConfig, AutoModelForZeroShotObjectDetection, AutoProcessor

            source = self.config.detector
            model_type = AutoConfig.from_pretrained(source).model_type
            if model_type not in DETECTOR_TYPES:
                raise ScorerConfigError(
                    f"scorer.detect.detector: {source!r} is a {model_type} model; "
                    f"expected {' or '.join(DETECTOR_TYPES)}"
                )
            log.info("loading detector %s on %s", source, self.device)
            require_folder_weights(source)
            with weights_only_loads(source):
                model = AutoModelForZeroShotObjectDetection.from_pretrained(source).to(self.device).eval()
                self._detector = (model, AutoProcessor.from_pretrained(source))
        return self._detector

    def _load_segmenter(self) -> tuple[Any, Any]:
        if self._segmenter is None and is_tiny(self.config.segmenter):
            model, processor = build_tiny(self.config.segmenter)
            self._segmenter = (model.to(self.device), processor)
        if self._segmenter is None:
            from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

            log.info("loading segmenter %s on %s", self.config.segmenter, self.device)
            require_folder_weights(self.config.segmenter)
            with weights_only_loads(self.config.segmenter):
                model = CLIPSegForImageSegmentation.from_pretrained(self.config.segmenter).to(self.device).eval()
                self._segmenter = (model, CLIPSegProcessor.from_pretrained(self.config.segmenter))
        return self._segmenter

    def object_scores(self, paths: Sequence[str], objects: list[tuple[str, ...]]) -> list[dict[str, float]]:
        """Per sample, the best box score of each listed object (empty where none is listed)."""
        out: list[dict[str, float]] = [{} for _ in paths]
        groups = _groups(objects, self.config.batch_size)
        if not groups:
            return out
        model, processor = self._load_detector()
        for entry, positions in tqdm(groups, desc="detect objects", unit="batch", leave=False):
            queries = [self.config.query_template.format(item) for item in entry]
            images = [load_rgb(paths[i]) for i in positions]
            inputs = processor(text=[queries] * len(images), images=images, truncation=True, return_tensors="pt")
            inputs = inputs.to(self.device)
            with torch.no_grad():
                scores = max_query_scores(model(**inputs).logits).cpu().numpy()
            for row, position in zip(scores, positions, strict=True):
                out[position] = {item: float(score) for item, score in zip(entry, row, strict=True)}
        return out

    def phrase_coverage(self, paths: Sequence[str], phrases: list[tuple[str, ...]]) -> list[dict[str, float]]:
        """Per sample, the share of the image each listed phrase's CLIPSeg mask covers."""
        out: list[dict[str, float]] = [{} for _ in paths]
        groups = _groups(phrases, self.config.batch_size)
        if not groups:
            return out
        model, processor = self._load_segmenter()
        for entry, positions in tqdm(groups, desc="segment phrases", unit="batch", leave=False):
            images = [load_rgb(paths[i]) for i in positions]
            # One (image, phrase) pair per row: CLIPSeg conditions each mask on one text.
            pair_images = [image for image in images for _ in entry]
            inputs = processor(text=list(entry) * len(images), images=pair_images, padding=True, return_tensors="pt")
            inputs = inputs.to(self.device)
            with torch.no_grad():
                logits = model(**inputs).logits
            # The model squeezes a batch of one to (H, W).
            logits = logits.reshape(len(pair_images), *logits.shape[-2:])
            shares = mask_coverage(logits, self.config.coverage_threshold).cpu().numpy().reshape(len(images), -1)
            for row, position in zip(shares, positions, strict=True):
                out[position] = {item: float(share) for item, share in zip(entry, row, strict=True)}
        return out

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        objects = _column_items(samples, "objects")
        phrases = _column_items(samples, "phrases")
        notes = [
            f"detect: the samples table has no {column!r} column; nothing to {verb}"
            for column, verb in (("objects", "detect"), ("phrases", "segment"))
            if column not in samples.columns
        ]
        require_columns(samples, ("prompt",), self.name)
        column = STAGE_COLUMNS[self.config.stage]
        if (any(objects) or any(phrases)) and column not in samples.columns:
            raise ValueError(f"detect: the samples table lacks column {column}")
        paths = samples[column].tolist() if column in samples.columns else [None] * len(samples)
        scores = self.object_scores(paths, objects)
        coverage = self.phrase_coverage(paths, phrases)
        columns = self._columns(samples.index, objects, scores, coverage)
        metrics, tables, more = self._summaries(samples, objects, phrases, columns)
        # A tiny random detector or segmenter tests the pipeline, whatever made the images (the toy world's are
        # real pictures): the findings give a claim on its numbers no verdict.
        random = [name for name in (self.config.detector, self.config.segmenter) if is_tiny(name)]
        metrics["detect/random_weights"] = float(bool(random))
        if random:
            more = [*more, f"detect: random weights ({', '.join(random)}): presence and coverage test the pipeline"]
        return ScoreResult(columns, metrics, tables, notes + more)

    def _columns(
        self,
        index: pd.Index,
        objects: list[tuple[str, ...]],
        scores: list[dict[str, float]],
        coverage: list[dict[str, float]],
    ) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for name in sorted({slug(o) for row in scores for o in row}):
            score = [max((v for o, v in row.items() if slug(o) == name), default=np.nan) for row in scores]
            data[f"detect.score.{name}"] = pd.array(score, dtype="Float64")
            present = [None if np.isnan(s) else bool(s >= self.config.presence_threshold) for s in score]
            data[f"detect.present.{name}"] = pd.array(present, dtype="boolean")
        threshold = self.config.presence_threshold
        n_present = [sum(v >= threshold for v in row.values()) for row in scores]
        data["detect.n_objects"] = pd.array([len(o) or None for o in objects], dtype="Int64")
        data["detect.n_present"] = pd.array(
            [n if o else None for n, o in zip(n_present, objects, strict=True)], "Int64"
        )
        data["detect.all_present"] = pd.array(
            [n == len(o) if o else None for n, o in zip(n_present, objects, strict=True)], dtype="boolean"
        )
        for name in sorted({slug(p) for row in coverage for p in row}):
            share = [max((v for p, v in row.items() if slug(p) == name), default=np.nan) for row in coverage]
            data[f"detect.coverage.{name}"] = pd.array(share, dtype="Float64")
        return pd.DataFrame(data, index=index)

    def _summaries(
        self,
        samples: pd.DataFrame,
        objects: list[tuple[str, ...]],
        phrases: list[tuple[str, ...]],
        columns: pd.DataFrame,
    ) -> tuple[dict[str, float | None], dict[str, pd.DataFrame], list[str]]:
        boot = self.config.bootstrap
        metrics: dict[str, float | None] = {
            "detect/n_with_objects": float(sum(bool(o) for o in objects)),
            "detect/n_with_phrases": float(sum(bool(p) for p in phrases)),
        }
        notes: list[str] = []
        units = samples["prompt_id" if "prompt_id" in samples.columns else "prompt"].to_numpy()

        def values_of(column: str) -> np.ndarray:
            return columns[column].to_numpy(dtype=np.float64, na_value=np.nan)

        metrics.update(_mean_metrics("detect/all_present_rate", values_of("detect.all_present"), units, boot))
        if not columns["detect.all_present"].notna().any():
            notes.append("detect: no sample lists objects; no presence rate")
        for column in columns.columns:
            kind, _, name = column.removeprefix("detect.").partition(".")
            values = values_of(column)
            if kind == "present":
                metrics.update(_mean_metrics(f"detect/present_rate[object={name}]", values, units, boot))
            elif kind == "score":
                metrics[f"detect/score_mean[object={name}]"] = float(np.nanmean(values))
            elif kind == "coverage":
                metrics.update(_mean_metrics(f"detect/coverage_mean[phrase={name}]", values, units, boot))
        if not any(phrases):
            notes.append("detect: no sample lists phrases; no coverage")
        tables = {
            "detect/objects": _per_prompt(samples, columns, "score", "object"),
            "detect/phrases": _per_prompt(samples, columns, "coverage", "phrase"),
        }
        return metrics, tables, notes


def _mean_metrics(name: str, values: np.ndarray, units: np.ndarray, boot: BootstrapOptions) -> dict[str, float | None]:
    """`name`, `name_ci_low`, `name_ci_high` of the mean over prompts (each prompt's seeds averaged first);
    the suffix goes before a `[subset]` part of the name. A rate is the mean of a 0/1 score."""
    base, bracket, subset = name.partition("[")
    mean, low, high, _ = prompt_mean(values, units, boot)
    suffix = f"{bracket}{subset}"
    return {
        name: mean,
        f"{base}_ci_low{suffix}": low,
        f"{base}_ci_high{suffix}": high,
    }


def _per_prompt(samples: pd.DataFrame, columns: pd.DataFrame, kind: str, label: str) -> pd.DataFrame:
    """One row per (prompt, object) or (prompt, phrase): samples, mean score or coverage (and presence rate)."""
    by = samples["prompt_id" if "prompt_id" in samples.columns else "prompt"]
    rows = []
    for column in columns.columns:
        if not column.startswith(f"detect.{kind}."):
            continue
        name = column.removeprefix(f"detect.{kind}.")
        values = columns[column]
        for prompt_id, index in values.dropna().groupby(by.astype(str)).groups.items():
            row = {"prompt_id": prompt_id, label: name, "n": len(index), f"{kind}_mean": float(values[index].mean())}
            if "prompt" in samples.columns:
                row["prompt"] = str(samples.loc[index[0], "prompt"])
            if kind == "score":
                row["present_rate"] = float(columns.loc[index, f"detect.present.{name}"].astype(float).mean())
            rows.append(row)
    names = ["prompt_id", "prompt", label, "n", f"{kind}_mean"] + (["present_rate"] if kind == "score" else [])
    return pd.DataFrame(rows, columns=names)
