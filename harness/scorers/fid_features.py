"""FID/KID image features: the FID Inception (torch-fidelity's, or torchmetrics') or a custom nn.Module.

Pixels come from `images.py` in one of three named resize modes; features are cached per (extractor, mode).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from harness.scorers.configs import INCEPTION, ExtractorConfig, ResizeMode, import_extractor_class
from harness.scorers.feature_cache import FeatureCache
from harness.scorers.images import load_square_uint8
from harness.scorers.weights import (
    WeightFile,
    local_path,
    require_weights_file,
    torch_hub_checkpoint,
    torch_hub_path,
    weights_only_loads,
)

log = logging.getLogger(__name__)


class _FirstOutput(torch.nn.Module):
    """torch-fidelity's extractors return a tuple of the requested layers; FID needs the one requested."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)[0]


def build_extractor(config: ExtractorConfig) -> tuple[torch.nn.Module, int]:
    """The feature network (uint8 (N, 3, S, S) -> (N, d)) and d.

    "inception" is torch-fidelity's FID Inception (TF-1.x weights, from `inception_weights` or torch hub's
    cache, downloading once) in modes torch_fidelity and pil_bicubic, and torchmetrics' variant with antialiased
    resizing in mode torchmetrics. A custom class is instantiated without arguments and must map uint8
    images to (N, d), the contract torchmetrics states for custom feature extractors.
    """
    layer = str(config.inception_features)
    if config.feature_extractor != INCEPTION:
        module = import_extractor_class(config.feature_extractor, "feature_extractor")().eval()
        with torch.no_grad():
            probe = module(torch.zeros(1, 3, config.pixel_size, config.pixel_size, dtype=torch.uint8))
        return module, int(probe.reshape(1, -1).shape[1])
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    # Both variants load the file with weights_only=False; the file is checked first, and the load is forced
    # to tensors only in case it changes in between (or is downloaded now).
    weights = (
        Path(config.inception_weights) if config.inception_weights is not None else torch_hub_path(URL_INCEPTION_V3)
    )
    if weights.is_file():
        require_weights_file(weights)
    with weights_only_loads(weights):
        if config.resize_mode is ResizeMode.torchmetrics:
            from torchmetrics.image.fid import NoTrainInceptionV3

            # torchmetrics' variant already returns the one requested layer as (N, d).
            network = NoTrainInceptionV3("inception-v3-compat", [layer], config.inception_weights, antialias=True)
            return network.eval(), config.inception_features
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        network = FeatureExtractorInceptionV3(
            "inception-v3-compat", [layer], feature_extractor_weights_path=config.inception_weights
        )
    return _FirstOutput(network).eval(), config.inception_features


def extractor_weights(config: ExtractorConfig) -> tuple[WeightFile, ...]:
    """The Inception weights FID loads: the file `inception_weights` names, else torch-fidelity's download in
    torch hub's cache (both Inception variants load that one file); a custom extractor brings its own."""
    if config.feature_extractor != INCEPTION:
        return ()
    if config.inception_weights is not None:
        return (local_path("Inception (FID)", config.inception_weights),)
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return (torch_hub_checkpoint("Inception (FID)", URL_INCEPTION_V3, "python -m harness.fetch --only inception"),)


def feature_dim(config: ExtractorConfig) -> int:
    """The feature dimension without loading Inception weights."""
    return config.inception_features if config.feature_extractor == INCEPTION else build_extractor(config)[1]


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
        size, step = self.config.pixel_size, self.config.batch_size
        for start in tqdm(range(0, len(paths), step), desc="FID features", unit="batch", leave=False):
            pixels = np.stack([load_square_uint8(p, size) for p in paths[start : start + step]])
            batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous().to(self.device)
            with torch.no_grad():
                out.append(self._network(batch).double().cpu().numpy().reshape(len(pixels), -1))
        return np.concatenate(out)
