"""Build the two GLIDE stages from a model spec: official checkpoints, or seeded random weights (tiny).

`ModelSpec` is what `conf/model/*.yaml` holds; `load_pipeline` turns it into a ready GlidePipeline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import load_state_dict, resolve_checkpoint
from .config import PRESETS, preset
from .pipeline import DTYPES, GlidePipeline, Stage
from .tokenizer import Tokenizer, load_encoding
from .unet import GlideUNet

log = logging.getLogger(__name__)

WEIGHTS = ("official", "random")
# Models narrower than this (base channels) sample on one CPU thread: their convolutions are too small to split,
# and on a shared 2-core CPU two threads cost the tiny presets 28x the CPU time of one (7.49 vs 0.27 CPU-s for 10
# base steps). The same width at which resolve_dtype starts to choose bf16.
NARROW_CHANNELS = 128


class DeviceError(ValueError):
    """A device that this machine does not have; the message names it and what is there."""


def check_device(device: str) -> None:
    """Refuse `cuda` / `cuda:N` where torch sees no such GPU, before any work (auto and cpu always pass)."""
    if not device.startswith("cuda"):
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise DeviceError(f"sampler.device: {device!r} asks for a GPU but torch finds no CUDA device; use cpu or auto")
    index = device.partition(":")[2]
    if index and not (index.isdigit() and int(index) < count):
        raise DeviceError(
            f"sampler.device: {device!r} is not one of the {count} GPUs here (cuda:0 to cuda:{count - 1})"
        )


def resolve_threads(device_type: str, num_channels: int) -> int:
    """The torch intra-op thread count of a sampling run; the one place that decides it.

    OMP_NUM_THREADS when set (the user's choice); else on a CPU one thread for narrow models and every core
    this process may use for wide ones; on a GPU, torch's own default (the host threads only feed the device).
    """
    from_env = os.environ.get("OMP_NUM_THREADS", "")
    if from_env.isdigit() and int(from_env) > 0:
        return int(from_env)
    if device_type != "cpu":
        return torch.get_num_threads()
    if num_channels < NARROW_CHANNELS:
        return 1
    return len(os.sched_getaffinity(0))


@dataclass
class ModelSpec:
    """The two stages' presets and where their weights come from."""

    name: str = "glide"
    base: str = "base"
    upsample: str = "upsample"
    weights: str = "official"  # official checkpoints, or random weights drawn from `seed`
    seed: int = 0
    base_path: str | None = None  # local checkpoint files; null: the cache dir, else a download
    upsample_path: str | None = None
    cache_dir: str | None = None  # null: $GLIDE_CACHE or the user cache dir
    download: bool = True

    def __post_init__(self) -> None:
        for key in ("base", "upsample"):
            if getattr(self, key) not in PRESETS:
                raise ValueError(f"model.{key}: unknown preset {getattr(self, key)!r}; allowed: {', '.join(PRESETS)}")
        if self.weights not in WEIGHTS:
            raise ValueError(f"model.weights: {self.weights!r} is not one of {', '.join(WEIGHTS)}")

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    @property
    def model_id(self) -> str:
        """Names the weights and the architecture: part of every sample's content key."""
        arch = hashlib.sha256(
            json.dumps([preset(self.base).to_dict(), preset(self.upsample).to_dict()], sort_keys=True).encode()
        ).hexdigest()[:8]
        if self.random_weights:
            return f"{self.name}:{self.base}+{self.upsample}@{arch}:random-seed{self.seed}"
        files = [file_fingerprint(Path(p)) for p in (self.base_path, self.upsample_path) if p is not None]
        weights = "official" if not files else "files-" + "-".join(files)
        return f"{self.name}:{self.base}+{self.upsample}@{arch}:{weights}"


def file_fingerprint(path: Path, chunk: int = 1 << 20) -> str:
    """A cheap content fingerprint of a large file: its size and the hash of its first and last MiB."""
    if not path.is_file():
        return f"missing:{path.name}"
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        digest.update(f.read(chunk))
        f.seek(max(0, size - chunk))
        digest.update(f.read(chunk))
    return digest.hexdigest()[:12]


def random_model(preset_name: str, seed: int) -> GlideUNet:
    """A model whose every weight is drawn from `seed` (PyTorch's default initialisations)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GlideUNet(preset(preset_name))


def checkpoint_file(spec: ModelSpec, stage: str) -> Path:
    """The stage's checkpoint: the configured path, else the cache, else a download."""
    return resolve_checkpoint(
        stage, path=getattr(spec, f"{stage}_path"), cache_dir=spec.cache_dir, download=spec.download
    )


def official_model(spec: ModelSpec, stage: str) -> GlideUNet:
    """The stage's model with its released weights; fails before building anything big when the file is missing."""
    path = checkpoint_file(spec, stage)
    with torch.device("meta"):
        model = GlideUNet(preset(getattr(spec, stage)))
    state_dict = load_state_dict(path, model.expected_shapes())
    # The meta-device model takes the loaded tensors as they are: no random init, no second copy.
    model.load_state_dict(state_dict, strict=True, assign=True)
    log.info("loaded GLIDE %s weights from %s", stage, path)
    return model


def resolve_official_checkpoints(spec: ModelSpec) -> None:
    """Find (or fetch) both checkpoint files and the tokenizer's vocabulary, so a run without them fails
    before any work."""
    if spec.random_weights:
        return
    for stage in ("base", "upsample"):
        checkpoint_file(spec, stage)
    load_encoding(preset(spec.base).tokenizer)


def load_pipeline(
    spec: ModelSpec,
    *,
    device: str = "cpu",
    dtype: str = "fp32",
    per_sample: bool = True,
    compile: bool = False,
    tokenizer: str | None = None,
) -> GlidePipeline:
    """Both stages in eval mode on `device`, under autocast to `dtype` (fp32, bf16 or fp16).

    `per_sample` runs one forward per sample, so pixels do not depend on the batch (see pipeline.batched);
    `compile` compiles each UNet's forward with torch.compile (the step loop has one fixed shape per stage).
    `tokenizer` replaces the presets' encoding (e.g. "bytes" to time random-weight models offline).
    """
    if dtype not in DTYPES:
        raise ValueError(f"sampler.dtype: {dtype!r} is not one of {', '.join(DTYPES)}")
    torch_device = torch.device(device)
    stages = []
    for offset, stage in enumerate(("base", "upsample")):
        if spec.random_weights:
            model = random_model(getattr(spec, stage), spec.seed + offset)
        else:
            model = official_model(spec, stage)
        model = model.eval().requires_grad_(False).to(torch_device)
        if dtype != "fp32":
            model.cast_matmul_weights(DTYPES[dtype])
        if torch_device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        if compile:
            model.forward = torch.compile(model.forward, dynamic=False)
        encoding = load_encoding(tokenizer or model.cfg.tokenizer)
        stages.append(Stage(model, Tokenizer(encoding, model.cfg.text_ctx), torch_device, DTYPES[dtype], per_sample))
    return GlidePipeline(*stages)
