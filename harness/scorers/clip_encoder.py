"""One open_clip model shared by the clip, fid and bias scorers: unit image and text embeddings, cached.

Image embeddings are cached per (model id, image content key) so re-scoring or adding a scorer reuses them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from harness.scorers.configs import ClipConfig, open_clip_registry
from harness.scorers.feature_cache import FeatureCache
from harness.scorers.images import load_rgb
from harness.scorers.weights import (
    WeightFile,
    open_clip_weights,
    weights_only_loads,
)

log = logging.getLogger(__name__)


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def _without_random_init_warning(asked_for: bool) -> Iterator[None]:
    """open_clip warns (on the root logger) that a model without pretrained weights is initialised randomly;
    with `pretrained: null` that is what was asked for, so the warning says nothing and is dropped."""
    if not asked_for:
        yield
        return
    drop = _DropRandomInitWarning()
    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


class ClipEncoder:
    """Loads the open_clip model on first use; returns L2-normalised float64 embeddings."""

    def __init__(self, config: ClipConfig, *, cache_dir: Path | None, device: str) -> None:
        self.config = config
        self.device = torch.device(device)
        self.cache = FeatureCache(cache_dir, config.model_id)
        self._model: Any = None
        self._preprocess: Any = None
        self._tokenizer: Any = None
        self._texts: dict[str, np.ndarray] = {}

    @property
    def model_id(self) -> str:
        return self.cache.model_id

    def weights(self) -> tuple[WeightFile, ...]:
        """The open_clip weights this encoder loads (none for random initialisation)."""
        cfg = self.config
        return open_clip_weights(f"CLIP {cfg.model}:{cfg.pretrained}", cfg.model_name, cfg.pretrained)

    def _load(self) -> None:
        if self._model is not None:
            return
        cfg = self.config
        open_clip = open_clip_registry()
        pretrained_cfg = (
            open_clip.pretrained.get_pretrained_cfg(cfg.model_name, cfg.pretrained) if cfg.pretrained else {}
        )
        log.info("loading open_clip %s (pretrained=%s) on %s", cfg.model, cfg.pretrained, self.device)
        # Random initialisation (pretrained: null) is seeded so that cached embeddings stay valid.
        weights = self.weights()
        with (
            torch.random.fork_rng(devices=[]),
            weights_only_loads(weights[0].source if weights else cfg.model),
            _without_random_init_warning(cfg.pretrained is None),
        ):
            torch.manual_seed(cfg.random_init_seed)
            model, _, preprocess = open_clip.create_model_and_transforms(
                cfg.model_name,
                pretrained=cfg.pretrained,
                device=self.device,
                # The OpenAI weights were trained with QuickGELU; open_clip only warns on a mismatch.
                force_quick_gelu=bool(pretrained_cfg.get("quick_gelu", False)),
            )
        self._model = model.eval()
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(cfg.model_name)

    @property
    def logit_scale(self) -> float:
        """The model's learned temperature exp(t) (100 for the OpenAI weights)."""
        self._load()
        return float(self._model.logit_scale.detach().exp())

    def image_embeddings(self, paths: Sequence[str | Path], keys: Sequence[str]) -> np.ndarray:
        """Unit image embeddings (n, d); each image goes through the model's own preprocessing once."""
        if not keys:
            return np.empty((0, 0))
        raw = self.cache.features(list(keys), lambda positions: self._encode_images([paths[i] for i in positions]))
        return _unit(raw)

    def text_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """Unit text embeddings (n, d), memoised per string."""
        if not texts:
            return np.empty((0, 0))
        unseen = sorted({t for t in texts if t not in self._texts})
        if unseen:
            self._load()
            for start in range(0, len(unseen), self.config.batch_size):
                batch = unseen[start : start + self.config.batch_size]
                with torch.no_grad():
                    emb = self._model.encode_text(self._tokenizer(batch).to(self.device))
                for item, row in zip(batch, emb.float().cpu().numpy(), strict=True):
                    self._texts[item] = row
        return _unit(np.stack([self._texts[t] for t in texts]))

    def _encode_images(self, paths: Sequence[str | Path]) -> np.ndarray:
        self._load()
        out = []
        batches = range(0, len(paths), self.config.batch_size)
        for start in tqdm(batches, desc=f"CLIP {self.config.model}", unit="batch", leave=False):
            batch = paths[start : start + self.config.batch_size]
            pixels = torch.stack([self._preprocess(load_rgb(p)) for p in batch]).to(self.device)
            with torch.no_grad():
                out.append(self._model.encode_image(pixels).float().cpu().numpy())
        return np.concatenate(out)


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)
