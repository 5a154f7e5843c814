"""FID/KID image features: torchmetrics' FID Inception (2048-d pool features) or a custom nn.Module.

Pixels come from the fixed path in `images.py`; features are cached per (extractor id, image content key).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from tqdm.auto import tqdm

from harness.scorers.feature_cache import FeatureCache
from harness.scorers.images import load_square_uint8
from harness.scorers.options import ScorerConfigError, integer, optional_text, text

log = logging.getLogger(__name__)

INCEPTION = "inception"
INCEPTION_DIM = 2048


def _import_class(spec: str, where: str) -> type[torch.nn.Module]:
    """`package.module:Class`, `package.module.Class` or `/path/to/file.py:Class`."""
    module_name, sep, class_name = spec.rpartition(":") if ":" in spec else spec.rpartition(".")
    if not sep or not module_name or not class_name:
        raise ScorerConfigError(
            f"{where}: {spec!r} is not 'inception' nor a class path (package.module:Class or file.py:Class)"
        )
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise FileNotFoundError(path)
            unique = "harness_feature_extractor_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
            module_spec = importlib.util.spec_from_file_location(unique, path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, FileNotFoundError, AttributeError) as err:
        raise ScorerConfigError(f"{where}: cannot import feature extractor {spec!r} ({err})") from err
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ScorerConfigError(f"{where}: feature extractor {spec!r} is not a torch.nn.Module class")
    return cls


@dataclass(frozen=True)
class ExtractorConfig:
    """Which network turns uint8 images of side `image_size` into FID/KID feature vectors."""

    feature_extractor: str
    inception_weights: str | None
    image_size: int
    batch_size: int

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any], where: str) -> ExtractorConfig:
        config = cls(
            feature_extractor=text(cfg, "feature_extractor", where),
            inception_weights=optional_text(cfg, "inception_weights", where),
            image_size=integer(cfg, "image_size", where, minimum=8),
            batch_size=integer(cfg, "batch_size", where, minimum=1),
        )
        if config.inception_weights is not None and not Path(config.inception_weights).is_file():
            raise ScorerConfigError(
                f"{where}.inception_weights: {config.inception_weights!r} is not a file "
                "(the FID Inception weights, e.g. pt_inception-2015-12-05-6726825d.pth)"
            )
        if config.feature_extractor != INCEPTION:
            _import_class(config.feature_extractor, f"{where}.feature_extractor")
        return config

    @property
    def model_id(self) -> str:
        if self.feature_extractor == INCEPTION:
            name = f"inception{INCEPTION_DIM}"
            if self.inception_weights is not None:
                name += "-" + _fingerprint(Path(self.inception_weights))
        else:
            module_part = self.feature_extractor.rpartition(":")[0]
            name = f"custom-{self.feature_extractor}"
            if module_part.endswith(".py"):
                name += "-" + _fingerprint(Path(module_part))
        return f"{name}-px{self.image_size}"


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def build_extractor(config: ExtractorConfig) -> tuple[torch.nn.Module, int]:
    """The feature network and its feature dimension, as torchmetrics' FrechetInceptionDistance sets them up.

    "inception" loads torch-fidelity's FID Inception (from its cache, downloading once, or from
    `inception_weights`); a custom class is instantiated without arguments and must map uint8 (N, 3, S, S)
    to (N, d), the contract torchmetrics states for custom feature extractors.
    """
    if config.feature_extractor == INCEPTION:
        metric = FrechetInceptionDistance(
            feature=INCEPTION_DIM, feature_extractor_weights_path=config.inception_weights
        )
    else:
        module = _import_class(config.feature_extractor, "feature_extractor")()
        size = config.image_size
        metric = FrechetInceptionDistance(feature=module, input_img_size=(3, size, size))
    return metric.inception.eval(), int(metric.real_features_sum.shape[0])


def feature_dim(config: ExtractorConfig) -> int:
    """The feature dimension without loading Inception weights."""
    return INCEPTION_DIM if config.feature_extractor == INCEPTION else build_extractor(config)[1]


class ImageFeatures:
    """Extracts (and caches) FID/KID features of image files through the fixed pixel path."""

    def __init__(self, config: ExtractorConfig, *, cache_dir: Path | None, device: str) -> None:
        self.config = config
        self.device = torch.device(device)
        self.cache = FeatureCache(cache_dir, config.model_id)
        self._network: torch.nn.Module | None = None

    def features(self, paths: Sequence[str | Path], keys: Sequence[str]) -> np.ndarray:
        rows = self.cache.features(list(keys), lambda positions: self._extract([paths[i] for i in positions]))
        return np.asarray(rows, dtype=np.float64)

    def _extract(self, paths: Sequence[str | Path]) -> np.ndarray:
        if self._network is None:
            network, _ = build_extractor(self.config)
            self._network = network.to(self.device)
        out = []
        size, step = self.config.image_size, self.config.batch_size
        for start in tqdm(range(0, len(paths), step), desc="FID features", unit="batch", leave=False):
            pixels = np.stack([load_square_uint8(p, size) for p in paths[start : start + step]])
            batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous().to(self.device)
            with torch.no_grad():
                out.append(self._network(batch).double().cpu().numpy().reshape(len(pixels), -1))
        return np.concatenate(out)
