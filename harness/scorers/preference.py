"""Human-preference scores per sample: HPSv2.1 (open_clip ViT-H-14 fine-tuned) and PickScore (a CLIP-H).

Both are CLIP models fine-tuned on human choices between images of one prompt; higher means preferred.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from harness.scorers.configs import HUB_PREFIX, PreferenceConfig, open_clip_registry
from harness.scorers.images import load_rgb
from harness.scorers.options import STAGE_COLUMNS
from harness.scorers.result import ScoreResult, require_columns
from harness.scorers.stats import prompt_mean
from harness.scorers.tiny_models import HPS_RANDOM_SEED, is_tiny, seeded
from harness.scorers.tiny_models import build as build_tiny
from harness.scorers.weights import (
    WeightFile,
    hub_file,
    local_path,
    pretrained,
    require_folder_weights,
    require_weights_file,
    weights_only_loads,
)

log = logging.getLogger(__name__)


def _split_hub_file(source: str) -> tuple[str, str]:
    """`hf://ORG/REPO/FILE` -> (ORG/REPO, FILE)."""
    org, repo, filename = source.removeprefix(HUB_PREFIX).split("/", 2)
    return f"{org}/{repo}", filename


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
