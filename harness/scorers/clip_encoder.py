"""One open_clip model shared by the clip, fid and bias scorers: unit image and text embeddings, cached.

Image embeddings are cached per (model id, image content key) so re-scoring or adding a scorer reuses them.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from harness.scorers.feature_cache import FeatureCache
from harness.scorers.images import load_rgb
from harness.scorers.options import BootstrapOptions, ScorerConfigError, build_config, require
from harness.scorers.weights import (
    ALLOWED_WEIGHTS,
    WeightFile,
    open_clip_weights,
    weights_file_problem,
    weights_only_loads,
)

log = logging.getLogger(__name__)

_SCHEMAS = ("hf-hub:", "local-dir:")
NUMPY_WEIGHTS = (".npz", ".npy")
MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"


@functools.cache
def open_clip_registry() -> ModuleType:
    """open_clip, imported on first use (it takes seconds, which a bad command line should not wait for).

    The harness's own architectures join its registry: `harness-tiny-clip` (16-d embeddings, one layer per
    tower) runs with `pretrained: null` for smoke runs and tests, with nothing to download.
    """
    import open_clip

    open_clip.add_model_config(MODEL_CONFIG_DIR)
    return open_clip


def _file_fingerprint(path: Path) -> str:
    """Identifies a local weights file by resolved path, size and mtime (hashing gigabytes would be slow)."""
    stat = path.stat()
    token = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _register_config_file(model: str, where: str) -> str:
    """A path to an open_clip model config JSON is registered under its file stem, which is returned."""
    path = Path(model)
    if not path.is_file():
        raise ScorerConfigError(f"{where}.model: model config file {model!r} does not exist")
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ScorerConfigError(f"{where}.model: {model!r} is not a JSON model config ({err})") from err
    open_clip_registry().add_model_config(path)
    return path.stem


def _config_fingerprint(model: str) -> str:
    """Identifies an architecture by its config, so a changed config never reuses cached embeddings."""
    config = open_clip_registry().get_model_config(model)
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def check_model_name(model: str, where: str) -> None:
    """`model` is an open_clip name, hf-hub:ORG/REPO or local-dir:PATH with a config; else one error line."""
    if model.startswith("local-dir:"):
        directory = Path(model.removeprefix("local-dir:"))
        if not (directory / "open_clip_config.json").is_file():
            raise ScorerConfigError(
                f"{where}.model: {model!r} is not a folder with open_clip_config.json and the model's weights"
            )
        return
    if model.startswith(_SCHEMAS):
        return
    known = open_clip_registry().list_models()
    if model not in known:
        close = difflib.get_close_matches(model, known, n=4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ScorerConfigError(
            f"{where}.model: unknown open_clip model {model!r} (open_clip.list_models() lists the "
            f"{len(known)} known names, e.g. ViT-B-32, ViT-L-14{hint})"
        )


def check_pretrained(model: str, pretrained: str | None, where: str) -> None:
    """`pretrained` is null, a pretrained tag of `model` or an existing weights file; else one error line."""
    if pretrained is None:
        return
    if model.startswith(_SCHEMAS):
        raise ScorerConfigError(
            f"{where}.pretrained: must be null for {model!r}: the weights come with the hf-hub:/local-dir: model"
        )
    tags = open_clip_registry().list_pretrained_tags_by_model(model)
    if pretrained in tags:
        return
    if not Path(pretrained).is_file():
        raise ScorerConfigError(
            f"{where}.pretrained: {pretrained!r} is neither a pretrained tag of {model} "
            f"({', '.join(tags) or 'none known'}) nor an existing weights file"
        )
    # open_clip reads .npz/.npy (big_vision) weights with NumPy, whose np.load refuses pickles by default.
    if Path(pretrained).suffix not in NUMPY_WEIGHTS and (problem := weights_file_problem(pretrained)):
        raise ScorerConfigError(
            f"{where}.pretrained: {problem}; expected a pretrained tag of {model} or {ALLOWED_WEIGHTS}"
        )


_DEFAULT_WEIGHTS = ("ViT-L-14", "openai")


@dataclass
class ClipConfig:
    """Options of conf/scorer/clip.yaml: the CLIP model (shared by all scorers) and the clip scorer's CIs."""

    model: str = _DEFAULT_WEIGHTS[0]
    pretrained: str | None = _DEFAULT_WEIGHTS[1]
    random_init_seed: int = 0
    batch_size: int = 32
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)

    WHERE: ClassVar[str] = "scorer.clip"

    def __post_init__(self) -> None:
        where = self.WHERE
        require(bool(self.model.strip()), f"{where}.model", "a non-empty open_clip model name", self.model)
        require(self.random_init_seed >= 0, f"{where}.random_init_seed", "an integer >= 0", self.random_init_seed)
        require(self.batch_size >= 1, f"{where}.batch_size", "an integer >= 1", self.batch_size)
        self.bootstrap.check(f"{where}.bootstrap")
        # Every run's config holds these options: the defaults (open_clip's own names, a test says so) are not
        # looked up, so that typing a config never waits seconds for open_clip's import.
        if (self.model, self.pretrained) == _DEFAULT_WEIGHTS:
            return
        check_model_name(self.model_name, where)
        check_pretrained(self.model_name, self.pretrained, where)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], where: str = "scorer.clip") -> ClipConfig:
        return build_config(cls, mapping, where)

    @property
    def model_name(self) -> str:
        """The open_clip name: a model config .json path is registered under its file stem."""
        if self.model.endswith(".json"):
            return _register_config_file(self.model, self.WHERE)
        return self.model

    @property
    def model_id(self) -> str:
        """Names the weights exactly: the cache key of every embedding this model produces."""
        model = self.model_name
        if self.pretrained is None:
            if model.startswith("local-dir:"):
                directory = Path(model.removeprefix("local-dir:"))
                files = sorted(p for p in directory.iterdir() if p.is_file())
                prints = "".join(_file_fingerprint(p) for p in files)
                return f"clip-{model}-{hashlib.sha256(prints.encode()).hexdigest()[:16]}"
            if model.startswith("hf-hub:"):
                return f"clip-{model}"
            return f"clip-{model}-{_config_fingerprint(model)}-random{self.random_init_seed}"
        is_file = Path(self.pretrained).is_file()
        if is_file and self.pretrained not in open_clip_registry().list_pretrained_tags_by_model(model):
            return f"clip-{model}-file{_file_fingerprint(Path(self.pretrained))}"
        return f"clip-{model}-{self.pretrained}"


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
