"""FID/KID image features: the FID Inception (torch-fidelity's, or torchmetrics') or a custom nn.Module.

Pixels come from `images.py` in one of three named resize modes; features are cached per (extractor, mode).
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from harness.scorers.feature_cache import FeatureCache
from harness.scorers.images import load_square_uint8
from harness.scorers.options import ScorerConfigError, require
from harness.scorers.weights import (
    ALLOWED_WEIGHTS,
    WeightFile,
    local_path,
    require_weights_file,
    torch_hub_checkpoint,
    torch_hub_path,
    weights_file_problem,
    weights_only_loads,
)

log = logging.getLogger(__name__)


class ResizeMode(enum.Enum):
    """How an image reaches the 299px input of the FID Inception; each matches one published pipeline.

    torch_fidelity: uint8 at image_size, then TensorFlow-1.x-compatible bilinear to 299 inside the network
        (torch-fidelity; the numbers of the original TF FID code and of most published FIDs).
    clean: PIL's 8-bit bicubic straight to 299, then the same network: clean-fid's filter and its single
        resize, but not clean-fid's pixels. clean-fid resizes each channel as 32-bit float and keeps floats;
        PIL's 8-bit path rounds and clips to [0, 255] between its horizontal and vertical passes, so the two
        differ by tens of grey levels at sharp edges (uniform noise from 256 px: 22 at most, 0.4 on average).
        FIDs of this mode are not clean-fid's numbers; the extractors here take uint8 images, not floats.
    torchmetrics: uint8 at image_size, then torch bilinear with antialiasing to 299 (torchmetrics' default).
    """

    torch_fidelity = "torch_fidelity"
    clean = "clean"
    torchmetrics = "torchmetrics"


INCEPTION_INPUT = 299
INCEPTION_LAYERS = (64, 192, 768, 2048)
INCEPTION = "inception"


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
    """Which network turns which pixels into FID/KID feature vectors (the extractor part of scorer.fid)."""

    feature_extractor: str = INCEPTION
    inception_weights: str | None = None
    inception_features: int = 2048
    resize_mode: ResizeMode = ResizeMode.torch_fidelity
    image_size: int = 256
    batch_size: int = 32

    def check(self, where: str) -> None:
        require(bool(self.feature_extractor.strip()), f"{where}.feature_extractor", "'inception' or a class path", "")
        require(self.image_size >= 8, f"{where}.image_size", "an integer >= 8", self.image_size)
        require(self.batch_size >= 1, f"{where}.batch_size", "an integer >= 1", self.batch_size)
        require(
            self.inception_features in INCEPTION_LAYERS,
            f"{where}.inception_features",
            f"one of {', '.join(map(str, INCEPTION_LAYERS))}",
            self.inception_features,
        )
        if self.inception_weights is not None and not Path(self.inception_weights).is_file():
            raise ScorerConfigError(
                f"{where}.inception_weights: {self.inception_weights!r} is not a file "
                "(the FID Inception weights, e.g. weights-inception-2015-12-05-6726825d.pth)"
            )
        if self.inception_weights is not None and (problem := weights_file_problem(self.inception_weights)):
            raise ScorerConfigError(f"{where}.inception_weights: {problem}; expected {ALLOWED_WEIGHTS}")
        if self.feature_extractor != INCEPTION:
            _import_class(self.feature_extractor, f"{where}.feature_extractor")

    @property
    def name(self) -> str:
        """The extractor as statistics files record it: the same name means the same features."""
        if self.feature_extractor == INCEPTION:
            return f"inception-v3-compat-{self.inception_features}"
        return f"custom:{self.feature_extractor}"

    @property
    def pixel_size(self) -> int:
        """The side of the uint8 images the network receives: 299 in clean mode, else image_size."""
        return INCEPTION_INPUT if self.resize_mode is ResizeMode.clean else self.image_size

    @property
    def model_id(self) -> str:
        """The feature cache key: extractor, weights file, resize mode and pixel size."""
        name = self.name
        if self.feature_extractor == INCEPTION and self.inception_weights is not None:
            name += "-" + _fingerprint(Path(self.inception_weights))
        module_part = self.feature_extractor.rpartition(":")[0]
        if module_part.endswith(".py"):
            name += "-" + _fingerprint(Path(module_part))
        return f"{name}-{self.resize_mode.value}-px{self.pixel_size}"


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


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
    cache, downloading once) in modes torch_fidelity and clean, and torchmetrics' variant with antialiased
    resizing in mode torchmetrics. A custom class is instantiated without arguments and must map uint8
    images to (N, d), the contract torchmetrics states for custom feature extractors.
    """
    layer = str(config.inception_features)
    if config.feature_extractor != INCEPTION:
        module = _import_class(config.feature_extractor, "feature_extractor")().eval()
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
