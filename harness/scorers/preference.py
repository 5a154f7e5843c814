"""Human-preference scores per sample: HPSv2.1 (open_clip ViT-H-14 fine-tuned) and PickScore (a CLIP-H).

Both are CLIP models fine-tuned on human choices between images of one prompt; higher means preferred.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from harness.scorers.clip_encoder import open_clip_registry
from harness.scorers.fields import STAGE_COLUMNS, check_bootstrap, check_integer, check_source, check_stage, choice_list
from harness.scorers.images import load_rgb
from harness.scorers.options import BootstrapOptions, ScorerConfigError
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import prompt_mean
from harness.scorers.tiny_models import HPS_RANDOM_SEED, is_tiny, seeded
from harness.scorers.tiny_models import build as build_tiny
from harness.scorers.weights import (
    ALLOWED_WEIGHTS,
    WeightFile,
    hub_file,
    local_path,
    pretrained,
    require_folder_weights,
    require_weights_file,
    weights_file_problem,
    weights_only_loads,
)

log = logging.getLogger(__name__)

MODELS = ("hps", "pickscore")
HPS_ARCHITECTURE = "ViT-H-14"
HUB_PREFIX = "hf://"


def _split_hub_file(source: str) -> tuple[str, str]:
    """`hf://ORG/REPO/FILE` -> (ORG/REPO, FILE)."""
    org, repo, filename = source.removeprefix(HUB_PREFIX).split("/", 2)
    return f"{org}/{repo}", filename


@dataclass
class PreferenceConfig:
    """Options of the preference scorer.

    `hps_checkpoint` is `hf://ORG/REPO/FILE` (fetched into the Hugging Face cache) or a local file; the HPSv2.1
    file holds the whole fine-tuned model, so no base CLIP weights are needed; null gives the architecture seeded
    random weights (with `harness-tiny-clip`, for smoke runs). PickScore's model and processor are hub ids or
    local folders: its authors pair the model with the processor of the CLIP-H it was tuned from.
    `harness-tiny-pickscore` as both is a tiny random-weight one built in code (tiny_models.py).
    """

    models: tuple[str, ...] = MODELS
    stage: str = "256"
    batch_size: int = 8
    hps_architecture: str = HPS_ARCHITECTURE
    hps_checkpoint: str | None = "hf://xswu/HPSv2/HPS_v2.1_compressed.pt"
    pickscore_model: str = "yuvalkirstain/PickScore_v1"
    pickscore_processor: str = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        where = "scorer.preference"
        object.__setattr__(self, "models", choice_list(f"{where}.models", self.models, MODELS))
        check_stage(f"{where}.stage", self.stage)
        # The default (open_clip's own name, a test says so) is not looked up: typing a config, as every run
        # does, should not wait seconds for open_clip's import.
        known = self.hps_architecture == HPS_ARCHITECTURE or self.hps_architecture in open_clip_registry().list_models()
        if not known:
            raise ScorerConfigError(
                f"{where}.hps_architecture: unknown open_clip model {self.hps_architecture!r} (HPSv2.1 is ViT-H-14)"
            )
        checkpoint = self.hps_checkpoint
        hub = isinstance(checkpoint, str) and checkpoint.startswith(HUB_PREFIX)
        bad = not isinstance(checkpoint, str) or not checkpoint.strip() or (hub and checkpoint.count("/") < 4)
        if checkpoint is not None and bad:
            raise ScorerConfigError(
                f"{where}.hps_checkpoint: expected hf://ORG/REPO/FILE, a local file or null (random weights), "
                f"got {checkpoint!r}"
            )
        local = checkpoint is not None and not hub and Path(checkpoint).expanduser().is_file()
        if local and (problem := weights_file_problem(checkpoint)):
            raise ScorerConfigError(f"{where}.hps_checkpoint: {problem}; expected {ALLOWED_WEIGHTS}")
        check_source(f"{where}.pickscore_model", self.pickscore_model)
        check_source(f"{where}.pickscore_processor", self.pickscore_processor)
        # The tiny model reads letter token ids; a real processor's ids would fall outside its vocabulary.
        tiny = is_tiny(self.pickscore_model) or is_tiny(self.pickscore_processor)
        if tiny and self.pickscore_model != self.pickscore_processor:
            raise ScorerConfigError(
                f"{where}.pickscore_processor: {self.pickscore_processor!r} does not fit pickscore_model "
                f"{self.pickscore_model!r}; a tiny model takes its own tiny processor (the same name)"
            )
        check_integer(f"{where}.batch_size", self.batch_size, 1)
        check_bootstrap(where, self.bootstrap_resamples, self.bootstrap_seed, self.ci_level)

    @property
    def bootstrap(self) -> BootstrapOptions:
        return BootstrapOptions(self.bootstrap_resamples, self.bootstrap_seed, self.ci_level)


def _unit(rows: torch.Tensor) -> torch.Tensor:
    rows = rows.double()
    return rows / rows.norm(dim=-1, keepdim=True)


def paired_cosine(images: torch.Tensor, texts: torch.Tensor) -> np.ndarray:
    """cos(image_i, text_i) of paired embeddings (n, d), in float64."""
    return (_unit(images) * _unit(texts)).sum(dim=-1).cpu().numpy()


def hps_score(cos: np.ndarray) -> np.ndarray:
    """HPSv2 reports 100 x the cosine of its fine-tuned CLIP's image and text embeddings (Wu et al. 2023)."""
    return 100.0 * np.asarray(cos, dtype=np.float64)


def pickscore(cos: np.ndarray, logit_scale: float) -> np.ndarray:
    """PickScore is the CLIP logit: exp(t) x cosine, with the model's learned temperature t (Kirstain et al.
    2023); exp(t) is about 100, so scores sit near 20 and only differences between images of one prompt matter."""
    return logit_scale * np.asarray(cos, dtype=np.float64)


def _state_dict(path: str) -> dict[str, torch.Tensor]:
    """A checkpoint's weights: the HPSv2 files nest them under `state_dict`; DDP training prefixes `module.`."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    return {key.removeprefix("module."): value for key, value in state.items()}


class HpsModel:
    """HPSv2.1: an open_clip model with the fine-tuned checkpoint's weights."""

    def __init__(self, config: PreferenceConfig, device: torch.device) -> None:
        checkpoint = config.hps_checkpoint
        if checkpoint is not None and checkpoint.startswith(HUB_PREFIX):
            from huggingface_hub import hf_hub_download

            checkpoint = hf_hub_download(*_split_hub_file(checkpoint))
        log.info("loading HPS %s from %s on %s", config.hps_architecture, checkpoint or "random weights", device)
        # The checkpoint was trained without QuickGELU; pretrained=None keeps open_clip from fetching anything.
        open_clip = open_clip_registry()
        with seeded(HPS_RANDOM_SEED):
            model, _, preprocess = open_clip.create_model_and_transforms(config.hps_architecture, pretrained=None)
        if checkpoint is not None:
            with weights_only_loads(checkpoint):
                require_weights_file(checkpoint)
                model.load_state_dict(_state_dict(checkpoint))
        self.model = model.to(device).eval()
        # HPSv2 resizes the longer side to 224 (bicubic) and pads; for square images that is open_clip's
        # validation transform (bicubic resize, centre crop of the whole image, CLIP normalisation).
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(config.hps_architecture)
        self.device = device

    def cosine(self, images: Sequence[Any], prompts: Sequence[str]) -> np.ndarray:
        pixels = torch.stack([self.preprocess(image) for image in images]).to(self.device)
        with torch.no_grad():
            image_rows = self.model.encode_image(pixels)
            text_rows = self.model.encode_text(self.tokenizer(list(prompts)).to(self.device))
        return paired_cosine(image_rows, text_rows)

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> np.ndarray:
        return hps_score(self.cosine(images, prompts))


def _projected(output: Any) -> torch.Tensor:
    """transformers 5 returns the projected embedding as `pooler_output` of a model output; 4.x a tensor."""
    return output.pooler_output if hasattr(output, "pooler_output") else output


class PickScoreModel:
    """PickScore: a transformers CLIPModel and the processor of the CLIP it was fine-tuned from."""

    def __init__(self, config: PreferenceConfig, device: torch.device) -> None:
        from transformers import AutoProcessor, CLIPModel

        log.info("loading PickScore %s on %s", config.pickscore_model, device)
        if is_tiny(config.pickscore_model):
            model, self.processor = build_tiny(config.pickscore_model)
        else:
            # transformers reads .bin weights with weights_only=True and prefers .safetensors; forced anyway.
            require_folder_weights(config.pickscore_model)
            with weights_only_loads(config.pickscore_model):
                model = CLIPModel.from_pretrained(config.pickscore_model)
            with weights_only_loads(config.pickscore_processor):
                self.processor = AutoProcessor.from_pretrained(config.pickscore_processor)
        self.model = model.to(device).eval()
        self.device = device

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp())

    def cosine(self, images: Sequence[Any], prompts: Sequence[str]) -> np.ndarray:
        pixels = self.processor(images=list(images), return_tensors="pt").to(self.device)
        # CLIP's text tower has 77 positions; longer prompts are cut, as PickScore's authors do.
        tokens = self.processor(
            text=list(prompts), padding=True, truncation=True, max_length=77, return_tensors="pt"
        ).to(self.device)
        with torch.no_grad():
            image_rows = _projected(self.model.get_image_features(**pixels))
            text_rows = _projected(self.model.get_text_features(**tokens))
        return paired_cosine(image_rows, text_rows)

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> np.ndarray:
        return pickscore(self.cosine(images, prompts), self.logit_scale)


class PreferenceScorer:
    name = "preference"

    def __init__(self, config: PreferenceConfig, *, device: str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        self._models: dict[str, HpsModel | PickScoreModel] = {}

    def weights(self) -> tuple[WeightFile, ...]:
        cfg = self.config
        out: list[WeightFile] = []
        if "hps" in cfg.models and cfg.hps_checkpoint is not None:
            if cfg.hps_checkpoint.startswith(HUB_PREFIX):
                out.append(hub_file("HPSv2.1 checkpoint", *_split_hub_file(cfg.hps_checkpoint)))
            else:
                out.append(local_path("HPSv2.1 checkpoint", cfg.hps_checkpoint))
        if "pickscore" in cfg.models and not is_tiny(cfg.pickscore_model):
            out.append(pretrained("PickScore model", cfg.pickscore_model))
            out.append(pretrained("PickScore processor", cfg.pickscore_processor, needs_weights=False))
        return tuple(out)

    def model(self, name: str) -> HpsModel | PickScoreModel:
        if name not in self._models:
            kind = HpsModel if name == "hps" else PickScoreModel
            self._models[name] = kind(self.config, self.device)
        return self._models[name]

    def score(self, samples: pd.DataFrame) -> ScoreResult:
        column = STAGE_COLUMNS[self.config.stage]
        require_columns(samples, ("prompt", column), self.name)
        paths, prompts = samples[column].tolist(), samples["prompt"].astype(str).tolist()
        columns = pd.DataFrame(index=samples.index)
        for name in self.config.models:
            columns[f"preference.{name}"] = self._score_all(name, paths, prompts)
        metrics: dict[str, float | None] = {"preference/n": float(len(samples))}
        units = samples["prompt_id" if "prompt_id" in samples.columns else "prompt"].to_numpy()
        for name in self.config.models:
            values = columns[f"preference.{name}"].to_numpy()
            mean, low, high, _ = prompt_mean(values, units, self.config.bootstrap)
            metrics[f"preference/{name}_mean"] = mean
            metrics[f"preference/{name}_ci_low"] = low
            metrics[f"preference/{name}_ci_high"] = high
        notes = [] if len(samples) >= 2 else [f"preference: {len(samples)} sample(s); no confidence interval"]
        return ScoreResult(columns, metrics, {"preference/per_prompt": self._per_prompt(samples, columns)}, notes)

    def _score_all(self, name: str, paths: list[str], prompts: list[str]) -> np.ndarray:
        if not paths:
            return np.empty(0)
        model = self.model(name)
        out = []
        step = self.config.batch_size
        for start in tqdm(range(0, len(paths), step), desc=f"preference {name}", unit="batch", leave=False):
            images = [load_rgb(Path(p)) for p in paths[start : start + step]]
            out.append(model.score(images, prompts[start : start + step]))
        return np.concatenate(out)

    def _per_prompt(self, samples: pd.DataFrame, columns: pd.DataFrame) -> pd.DataFrame:
        by = "prompt_id" if "prompt_id" in samples.columns else "prompt"
        rows = []
        for prompt_id, index in samples.groupby(by, sort=True).groups.items():
            row: dict[str, Any] = {
                "prompt_id": str(prompt_id),
                "prompt": str(samples.loc[index[0], "prompt"]),
                "n": len(index),
            }
            for name in self.config.models:
                values = columns.loc[index, f"preference.{name}"]
                row[f"{name}_mean"], row[f"{name}_max"] = float(values.mean()), float(values.max())
            rows.append(row)
        return pd.DataFrame(rows)
