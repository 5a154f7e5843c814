"""Every built-in scorer's options, typed with the run's config: the dataclasses behind `scorer.<name>.*`
and the checks of their values. Nothing here imports torch, open_clip or transformers at import time, so a
bad command line is answered before those load; a check that needs one (an open_clip model name that is not
the default, a feature extractor's class) imports it when it runs.
"""

from __future__ import annotations

import difflib
import enum
import functools
import hashlib
import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from harness.scorers.images import file_content_key, list_images
from harness.scorers.options import (
    STAGE_COLUMNS,
    BootstrapOptions,
    ScorerConfigError,
    build_config,
    check_fraction,
    check_integer,
    check_source,
    check_stage,
    choice_list,
    require,
)
from harness.scorers.perceptual import lpips_option_error
from harness.scorers.taxonomy import Taxonomy, load_taxonomy
from harness.scorers.tiny_models import is_tiny
from harness.scorers.weights import ALLOWED_WEIGHTS, weights_file_problem

if TYPE_CHECKING:
    import torch


_SCHEMAS = ("hf-hub:", "local-dir:")
NUMPY_WEIGHTS = (".npz", ".npy")
MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
# The harness's own trained weights, shipped in the package: <stem>-<sha256[:16]>.safetensors is the pretrained
# tag <stem>_<sha256[:16]> ('-' as '_', open_clip's spelling of tags) of the architecture harness-<stem>.
HARNESS_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "toy" / "weights"


@functools.cache
def open_clip_registry() -> ModuleType:
    """open_clip, imported on first use (it takes seconds, which a bad command line should not wait for).

    The harness's own architectures join its registry: `harness-tiny-clip` (16-d embeddings, one layer per
    tower) runs with `pretrained: null` for smoke runs and tests, with nothing to download; `harness-toy-clip`
    with its trained weights (pretrained: toy_clip_<sha256[:16]>) reads the toy world, from any working folder.
    """
    import open_clip

    open_clip.add_model_config(MODEL_CONFIG_DIR)
    _register_harness_weights(open_clip)
    return open_clip


def harness_pretrained_tag(path: Path) -> tuple[str, str]:
    """(architecture, pretrained tag) of a weights file named <stem>-<sha256[:16]>.safetensors."""
    stem = path.stem.rpartition("-")[0]
    return f"harness-{stem}", path.stem.replace("-", "_").lower()


def _register_harness_weights(open_clip: ModuleType) -> None:
    # open_clip has no public call to add a pretrained tag; its table maps tag -> cfg, and a cfg's `file` is
    # read by its download_pretrained as a local path (no download, no cache).
    for path in sorted(HARNESS_WEIGHTS_DIR.glob("*.safetensors")):
        model, tag = harness_pretrained_tag(path)
        open_clip.pretrained._PRETRAINED.setdefault(model, {})[tag] = {"file": str(path)}


_ARCHITECTURE_KEYS = ("embed_dim", "vision_cfg", "text_cfg")  # what open_clip asks of a model config


def model_names() -> list[str]:
    """The names `open_clip.list_models()` gives, without importing open_clip while it is not loaded yet.

    open_clip lists every JSON file with an architecture's keys in its `model_configs` folder, plus those
    registered later; before the import, that is its folder and the harness's own. Checking a name such as
    `model=tiny`'s CLIP then costs a directory listing instead of open_clip's seconds of import.
    """

    if "open_clip" in sys.modules:
        return list(open_clip_registry().list_models())
    spec = importlib.util.find_spec("open_clip")
    folders = [Path(p) / "model_configs" for p in (spec.submodule_search_locations or [])] if spec else []
    names = []
    for path in (p for folder in [*folders, MODEL_CONFIG_DIR] for p in sorted(folder.glob("*.json"))):
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and all(key in config for key in _ARCHITECTURE_KEYS):
            names.append(path.stem)
    return names


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
    known = model_names()
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


class ResizeMode(enum.Enum):
    """How an image reaches the 299px input of the FID Inception; each matches one published pipeline.

    torch_fidelity: uint8 at image_size, then TensorFlow-1.x-compatible bilinear to 299 inside the network
        (torch-fidelity; the numbers of the original TF FID code and of most published FIDs).
    pil_bicubic: PIL's 8-bit bicubic straight to 299, then the same network: clean-fid's filter and its single
        resize, but not clean-fid's pixels. clean-fid resizes each channel as 32-bit float and keeps floats;
        PIL's 8-bit path rounds and clips to [0, 255] between its horizontal and vertical passes, so the two
        differ by tens of grey levels at sharp edges (uniform noise from 256 px: 22 at most, 0.4 on average).
        FIDs of this mode are not clean-fid's numbers; the extractors here take uint8 images, not floats.
    torchmetrics: uint8 at image_size, then torch bilinear with antialiasing to 299 (torchmetrics' default).
    """

    torch_fidelity = "torch_fidelity"
    pil_bicubic = "pil_bicubic"  # not clean-fid's pixels (above), so not named after it
    torchmetrics = "torchmetrics"


INCEPTION_INPUT = 299
INCEPTION_LAYERS = (64, 192, 768, 2048)
INCEPTION = "inception"


def import_extractor_class(spec: str, where: str) -> type[torch.nn.Module]:
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
    import torch  # a custom extractor is checked by importing it, which imports torch anyway

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
            import_extractor_class(self.feature_extractor, f"{where}.feature_extractor")

    @property
    def name(self) -> str:
        """The extractor as statistics files record it: the same name means the same features."""
        if self.feature_extractor == INCEPTION:
            return f"inception-v3-compat-{self.inception_features}"
        return f"custom:{self.feature_extractor}"

    @property
    def pixel_size(self) -> int:
        """The side of the uint8 images the network receives: 299 in pil_bicubic mode, else image_size."""
        return INCEPTION_INPUT if self.resize_mode is ResizeMode.pil_bicubic else self.image_size

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


@dataclass(frozen=True)
class ReferenceImages:
    paths: tuple[Path, ...]
    keys: tuple[str, ...]
    notes: tuple[str, ...] = ()


def normalize_caption(caption: str) -> str:
    """Captions and prompts are compared lower-cased, with whitespace collapsed and no final period."""
    return " ".join(caption.lower().split()).rstrip(".").strip()


def read_coco_captions(path: str | Path, where: str) -> list[tuple[str, str]]:
    """(caption, image file name) pairs of a COCO captions JSON (`images` + `annotations`)."""
    path = Path(path)
    if not path.is_file():
        raise ScorerConfigError(f"{where}: COCO captions file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = {image["id"]: image["file_name"] for image in data["images"]}
        pairs = [(ann["caption"], files[ann["image_id"]]) for ann in data["annotations"]]
    except (ValueError, KeyError, TypeError) as err:
        raise ScorerConfigError(
            f"{where}: {str(path)!r} is not a COCO captions JSON (images[id, file_name], "
            f"annotations[image_id, caption]): {err!r}"
        ) from err
    if not pairs:
        raise ScorerConfigError(f"{where}: COCO captions file {str(path)!r} has no annotations")
    return pairs


@dataclass
class ReferenceConfig:
    """Exactly one source: `folder`, `coco_captions` with `coco_images`, or `stats`."""

    folder: str | None = None
    coco_captions: str | None = None
    coco_images: str | None = None
    stats: str | None = None
    match_prompts: bool = True
    trust_foreign_stats: bool = False

    def check(self, where: str) -> None:
        """Checks the source now (folder holds images, JSON parses); the FidConfig checks the stats file."""
        chosen = [key for key in ("folder", "coco_captions", "stats") if getattr(self, key) is not None]
        if len(chosen) != 1:
            raise ScorerConfigError(
                f"{where}: set exactly one of folder, coco_captions (with coco_images) or stats; "
                f"got {', '.join(chosen) or 'none'} (e.g. {where}.folder=/data/reference_images)"
            )
        if self.folder is not None:
            list_images(self.folder, f"{where}.folder")
        if self.coco_captions is not None:
            read_coco_captions(self.coco_captions, f"{where}.coco_captions")
            if self.coco_images is None or not Path(self.coco_images).is_dir():
                raise ScorerConfigError(
                    f"{where}.coco_images: {self.coco_images!r} is not a folder (the images of coco_captions)"
                )
        elif self.coco_images is not None:
            raise ScorerConfigError(f"{where}.coco_images: only used with {where}.coco_captions")

    def images(self, prompts: Sequence[str]) -> ReferenceImages:
        """The reference image files; for COCO, those whose captions are the run's prompts (match_prompts)."""
        if self.folder is not None:
            paths = list_images(self.folder, "reference.folder")
            return ReferenceImages(tuple(paths), tuple(file_content_key(p) for p in paths))
        if self.coco_captions is None:
            return ReferenceImages((), ())
        pairs = read_coco_captions(self.coco_captions, "reference.coco_captions")
        wanted = {normalize_caption(p) for p in prompts}
        names = [name for caption, name in pairs if not self.match_prompts or normalize_caption(caption) in wanted]
        names = list(dict.fromkeys(names))
        paths = [Path(self.coco_images) / name for name in names]
        present = [p for p in paths if p.is_file()]
        notes = []
        if len(present) < len(paths):
            notes.append(f"fid: {len(paths) - len(present)} of {len(paths)} COCO reference images are missing")
        if not names:
            notes.append(f"fid: no caption of {self.coco_captions} matches the run's prompts; no reference images")
        return ReferenceImages(tuple(present), tuple(file_content_key(p) for p in present), tuple(notes))


WHOLE_RUN = "all"


@dataclass
class CmmdConfig:
    """The CLIP model of CMMD and CLIP-FD, and CMMD's kernel (Jayasumana et al. 2024: ViT-L/14 at 336px)."""

    model: str = "ViT-L-14-336"
    pretrained: str | None = "openai"
    random_init_seed: int = 0
    sigma: float = 10.0
    scale: float = 1000.0

    def check(self, where: str) -> None:
        require(self.sigma > 0, f"{where}.sigma", "a number > 0", self.sigma)
        require(self.scale > 0, f"{where}.scale", "a number > 0", self.scale)
        require(self.random_init_seed >= 0, f"{where}.random_init_seed", "an integer >= 0", self.random_init_seed)
        check_model_name(self.model, where)
        check_pretrained(self.model, self.pretrained, where)


@dataclass
class FidConfig:
    """Options of conf/scorer/fid.yaml."""

    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    feature_extractor: str = "inception"
    inception_weights: str | None = None
    inception_features: int = 2048
    resize_mode: ResizeMode = ResizeMode.torch_fidelity
    image_size: int = 256
    batch_size: int = 32
    groups: list[str] = field(default_factory=lambda: [WHOLE_RUN])
    subset_size: int | None = None
    subset_seed: int = 0
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    cmmd: CmmdConfig = field(default_factory=CmmdConfig)

    WHERE: ClassVar[str] = "scorer.fid"

    def __post_init__(self) -> None:
        where = self.WHERE
        require(bool(self.groups), f"{where}.groups", "a non-empty list of 'all' or samples columns", self.groups)
        if len(set(self.groups)) != len(self.groups):
            raise ScorerConfigError(f"{where}.groups: duplicate entries in {list(self.groups)}")
        if self.subset_size is not None:
            require(self.subset_size >= 2, f"{where}.subset_size", "null or an integer >= 2", self.subset_size)
        require(self.subset_seed >= 0, f"{where}.subset_seed", "an integer >= 0", self.subset_seed)
        require(self.kid_subsets >= 1, f"{where}.kid_subsets", "an integer >= 1", self.kid_subsets)
        require(self.kid_subset_size >= 2, f"{where}.kid_subset_size", "an integer >= 2", self.kid_subset_size)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], where: str = "scorer.fid") -> FidConfig:
        return build_config(cls, mapping, where)

    @property
    def extractor(self) -> ExtractorConfig:
        return ExtractorConfig(
            self.feature_extractor,
            self.inception_weights,
            self.inception_features,
            self.resize_mode,
            self.image_size,
            self.batch_size,
        )

    def cmmd_clip_config(self) -> ClipConfig:
        return ClipConfig(
            model=self.cmmd.model,
            pretrained=self.cmmd.pretrained,
            random_init_seed=self.cmmd.random_init_seed,
            batch_size=self.batch_size,
        )


@dataclass
class BiasConfig:
    """Options of conf/scorer/bias.yaml."""

    taxonomy: str = "religious_building"
    class_of_interest: str | None = "church"
    groups: list[str] = field(default_factory=lambda: ["guidance_scale"])
    level: float = 0.95

    WHERE: ClassVar[str] = "scorer.bias"

    def __post_init__(self) -> None:
        where = self.WHERE
        require(0 < self.level < 1, f"{where}.level", "a number in (0, 1), e.g. 0.95", self.level)
        for group in self.groups:
            require(bool(group.strip()), f"{where}.groups", "a list of samples column names", list(self.groups))
        taxonomy = self.load_taxonomy()
        if self.class_of_interest is not None and self.class_of_interest not in taxonomy.class_ids:
            raise ScorerConfigError(
                f"{where}.class_of_interest: {self.class_of_interest!r} is not a class of taxonomy {taxonomy.name} "
                f"({', '.join(taxonomy.class_ids)}), nor null"
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], where: str = "scorer.bias") -> BiasConfig:
        return build_config(cls, mapping, where)

    def load_taxonomy(self) -> Taxonomy:
        return load_taxonomy(self.taxonomy, f"{self.WHERE}.taxonomy")


@dataclass
class StyleConfig:
    """Options of conf/scorer/style.yaml."""

    taxonomy: str = "art_style"
    tag: str = "style"  # the prompt tag naming the intended style: samples column tag.<tag>
    level: float = 0.95  # Clopper-Pearson interval of the probe's accuracy on the controls
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)  # intervals of means over prompts

    WHERE: ClassVar[str] = "scorer.style"

    def __post_init__(self) -> None:
        where = self.WHERE
        require(0 < self.level < 1, f"{where}.level", "a number in (0, 1), e.g. 0.95", self.level)
        if not isinstance(self.tag, str) or not self.tag.strip():
            raise ScorerConfigError(f"{where}.tag: expected a prompt tag name (e.g. style), got {self.tag!r}")
        self.bootstrap.check(f"{where}.bootstrap")
        self.load_taxonomy()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], where: str = "scorer.style") -> StyleConfig:
        return build_config(cls, mapping, where)

    def load_taxonomy(self) -> Taxonomy:
        return load_taxonomy(self.taxonomy, f"{self.WHERE}.taxonomy")


@dataclass
class QualityConfig:
    """Options of the quality scorer: which stages to measure and the bootstrap of the run means."""

    stages: tuple[str, ...] = ("64", "256")
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)  # intervals of means over prompts

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", choice_list("scorer.quality.stages", self.stages, tuple(STAGE_COLUMNS)))
        self.bootstrap.check("scorer.quality.bootstrap")


def slug(text: str) -> str:
    """The column name of an object or phrase: lower case, runs of other characters as one underscore."""
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


@dataclass
class DetectConfig:
    """Options of the detect scorer.

    OWLv2 base/16 (ensemble checkpoint, Apache-2.0, 155M parameters, 620 MB) finds rare and novel objects far
    better than OWL-ViT v1 (Minderer et al. 2023: self-training on web image-text pairs lifts LVIS rare-class
    AP of an L/14 from 31.2% to 44.6%; rare classes had no human boxes), at a size that runs on a CPU.
    OWL-ViT checkpoints (`google/owlvit-base-patch32`, 4x fewer image tokens, faster) load too.
    CLIPSeg rd64-refined (Apache-2.0, 150M parameters, 600 MB) is the standard text-prompted segmenter in
    transformers. 0.1 is transformers' default detection threshold for OWL models; 0.5 halves CLIPSeg's sigmoid.
    `harness-tiny-owlv2` and `harness-tiny-clipseg` are tiny random-weight ones built in code (tiny_models.py).
    """

    detector: str = "google/owlv2-base-patch16-ensemble"
    # OWL-ViT's text queries follow CLIP's prompt form (Radford et al. 2021); "{}" is the object.
    query_template: str = "a photo of a {}"
    presence_threshold: float = 0.1
    segmenter: str = "CIDAS/clipseg-rd64-refined"
    coverage_threshold: float = 0.5
    stage: str = "256"
    # (image, object) or (image, phrase) pairs per forward.
    batch_size: int = 8
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)  # intervals of means over prompts

    def __post_init__(self) -> None:
        where = "scorer.detect"
        check_source(f"{where}.detector", self.detector)
        check_source(f"{where}.segmenter", self.segmenter)
        if not isinstance(self.query_template, str) or self.query_template.count("{}") != 1:
            raise ScorerConfigError(
                f"{where}.query_template: expected text with one '{{}}' for the object, got {self.query_template!r}"
            )
        check_fraction(f"{where}.presence_threshold", self.presence_threshold)
        check_fraction(f"{where}.coverage_threshold", self.coverage_threshold)
        check_stage(f"{where}.stage", self.stage)
        check_integer(f"{where}.batch_size", self.batch_size, 1)
        self.bootstrap.check(f"{where}.bootstrap")


MODELS = ("hps", "pickscore")
HPS_ARCHITECTURE = "ViT-H-14"
HUB_PREFIX = "hf://"


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
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)  # intervals of means over prompts

    def __post_init__(self) -> None:
        where = "scorer.preference"
        object.__setattr__(self, "models", choice_list(f"{where}.models", self.models, MODELS))
        check_stage(f"{where}.stage", self.stage)
        # The default (open_clip's own name, a test says so) is not looked up: typing a config, as every run
        # does, should not wait seconds for open_clip's import.
        known = self.hps_architecture == HPS_ARCHITECTURE or self.hps_architecture in model_names()
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
        self.bootstrap.check(f"{where}.bootstrap")


@dataclass
class GuideClipConfig:
    timestep: int = 0  # the ORIGINAL timestep the image encoder is told; 0 is the clean image
    batch_size: int = 32
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)

    def __post_init__(self) -> None:
        require(self.timestep >= 0, "scorer.guide_clip.timestep", "an integer >= 0 (0: the clean image)", self.timestep)
        require(self.batch_size >= 1, "scorer.guide_clip.batch_size", "an integer >= 1", self.batch_size)
        self.bootstrap.check("scorer.guide_clip.bootstrap")


@dataclass
class InpaintConfig:
    """Options of conf/scorer/inpaint.yaml."""

    lpips_net: str = "alex"  # alex | vgg | squeeze
    lpips_backbone: str = "auto"  # auto (random for random-weight models) | pretrained | random | a state-dict file
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)

    WHERE: ClassVar[str] = "scorer.inpaint"

    def __post_init__(self) -> None:
        if error := lpips_option_error(self.WHERE, self.lpips_net, self.lpips_backbone):
            raise ScorerConfigError(error)
        self.bootstrap.check(f"{self.WHERE}.bootstrap")
