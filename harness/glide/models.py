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

from .checkpoints import (
    RELEASED_CHECKPOINTS,
    CheckpointError,
    default_cache_dir,
    expected_dtypes,
    load_state_dict,
    resolve_checkpoint,
)
from .files import write_file_atomic
from .noised_clip import ImageEncoder, TextEncoder, load_encoders
from .pipeline import DTYPES, ClipGuide, GlidePipeline, Stage
from .presets import clip_preset, preset
from .spec import CLIP_PARTS, CLIP_SEED_OFFSET, ModelSpec, architecture_digest
from .tokenizer import Tokenizer, load_encoding
from .unet import GlideUNet

log = logging.getLogger(__name__)

# Models narrower than this (base channels) sample on one CPU thread: their convolutions are too small to split,
# and on a shared 2-core CPU two threads cost the tiny presets 28x the CPU time of one (7.49 vs 0.27 CPU-s for 10
# base steps). The same width at which resolve_dtype starts to choose bf16.
NARROW_CHANNELS = 128


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


def model_id(spec: ModelSpec) -> str:
    """Names the weights and the architecture: part of every sample's content key."""
    arch = architecture_digest(spec)
    if spec.random_weights:
        return f"{spec.name}:{spec.base}+{spec.upsample}@{arch}:random-seed{spec.seed}"
    # Every file a run uses is named by its digest: a file in the cache is no more trusted than a given path.
    prints = [checkpoint_fingerprint(spec, stage) for stage in ("base", "upsample")]
    label = "official" if all(p.official for p in prints) else "files"
    return f"{spec.name}:{spec.base}+{spec.upsample}@{arch}:{label}-" + "-".join(p.sha256[:12] for p in prints)


def guided_model_id(spec: ModelSpec, needs_guide: bool) -> str:
    """The model id, naming the noised CLIP's preset and weights too when it guides the base."""
    if not needs_guide:
        return model_id(spec)
    if spec.random_weights:
        return f"{model_id(spec)}+{spec.clip}:random-seed{spec.seed + CLIP_SEED_OFFSET}"
    digests = [file_sha256(clip_file(spec, part))[:12] for part in CLIP_PARTS]
    return f"{model_id(spec)}+{spec.clip}:files-" + "-".join(digests)


@dataclass(frozen=True)
class Fingerprint:
    """A checkpoint file's SHA-256, and whether it has the released file's layout (see official_layout)."""

    sha256: str
    official: bool


_FINGERPRINTS = "fingerprints.json"


def checkpoint_fingerprint(spec: ModelSpec, stage: str) -> Fingerprint:
    """The fingerprint of the stage's checkpoint file (found, or fetched, as for loading it).

    Hashing a 1.5 GB file takes seconds, so the result is kept in <cache dir>/fingerprints.json by the file's
    path, size and modification time, and computed again only when one of them changes.
    """
    path = checkpoint_file(spec, stage).resolve()
    stat = path.stat()
    entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    cache_file = (Path(spec.cache_dir).expanduser() if spec.cache_dir else default_cache_dir()) / _FINGERPRINTS
    known = _read_fingerprints(cache_file)
    cached = known.get(str(path), {})
    if {k: cached.get(k) for k in entry} == entry and {"sha256", "official"} <= set(cached):
        return Fingerprint(cached["sha256"], cached["official"])
    found = Fingerprint(file_sha256(path), official_layout(path, getattr(spec, stage)))
    known[str(path)] = {**entry, "sha256": found.sha256, "official": found.official}
    try:
        write_file_atomic(cache_file, (json.dumps(known, indent=2) + "\n").encode())
    except (OSError, ValueError) as err:  # a read-only cache only costs the hashing next time
        log.warning("could not record checkpoint fingerprints in %s (%s)", cache_file, err)
    return found


def official_layout(path: Path, preset_name: str) -> bool:
    """The released files publish no digests: a file counts as official when it holds exactly the released
    key list with its shapes, all float32, and its size is that of those tensors plus the container's few
    KiB. A file of other weights with that layout passes too; its digest in the model id still differs.

    A file that cannot be loaded for this preset (unreadable, more than tensors, other keys or shapes) is a
    CheckpointError here, before its fingerprint is recorded or anything is sampled."""
    with torch.device("meta"):
        expected = GlideUNet(preset(preset_name)).expected_shapes()
    tensors = load_state_dict(path, expected)
    data_bytes = sum(t.numel() * t.element_size() for t in tensors.values())
    all_fp32 = all(t.dtype == torch.float32 for t in tensors.values())
    return all_fp32 and data_bytes <= path.stat().st_size <= data_bytes + _CONTAINER_SLACK_BYTES


# A torch.save zip or safetensors file adds a header and per-tensor records (about 1 KiB per tensor here).
_CONTAINER_SLACK_BYTES = 4 * 2**20


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _read_fingerprints(cache_file: Path) -> dict:
    try:
        known = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def random_model(preset_name: str, seed: int) -> GlideUNet:
    """A model whose every weight is drawn from `seed` (PyTorch's default initialisations)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GlideUNet(preset(preset_name))


def checkpoint_file(spec: ModelSpec, stage: str) -> Path:
    """The stage's checkpoint: the configured path, else the cache, else a download."""
    # The released checkpoints are named as their presets (base, upsample, base_inpaint, upsample_inpaint);
    # another architecture given official-format files (a test's tiny one) takes the stage's file name.
    preset_name = getattr(spec, stage)
    name = preset_name if preset_name in RELEASED_CHECKPOINTS else stage
    return resolve_checkpoint(
        name, path=getattr(spec, f"{stage}_path"), cache_dir=spec.cache_dir, download=spec.download
    )


def official_model(spec: ModelSpec, stage: str) -> GlideUNet:
    """The stage's model with its released weights; fails before building anything big when the file is missing."""
    path = checkpoint_file(spec, stage)
    with torch.device("meta"):
        model = GlideUNet(preset(getattr(spec, stage)))
    state_dict = load_state_dict(path, model.expected_shapes(), dtypes=expected_dtypes(model))
    # The meta-device model takes the loaded tensors as they are: no random init, no second copy.
    model.load_state_dict(state_dict, strict=True, assign=True)
    log.info("loaded GLIDE %s weights from %s", stage, path)
    return model


def clip_file(spec: ModelSpec, part: str) -> Path:
    """A noised-CLIP checkpoint (clip_image_enc or clip_text_enc): the configured path, else the cache, else a
    download; a missing one is a one-line error naming the guidance and the fetch command."""
    try:
        return resolve_checkpoint(
            part, path=getattr(spec, CLIP_PARTS[part]), cache_dir=spec.cache_dir, download=spec.download
        )
    except CheckpointError as err:
        # The generic advice names the text-to-image fetch; this file comes with the clip mode's.
        reason = str(err).split(". To run without network access")[0]
        raise CheckpointError(
            f"sampler.guidance=clip needs the noised CLIP ({part}): {reason}; fetch it with "
            f"`python -m harness.fetch --only glide --modes clip` and copy the cache, or set model.{CLIP_PARTS[part]}"
        ) from None


def resolve_official_checkpoints(spec: ModelSpec, *, guide: bool = False) -> None:
    """Find (or fetch) both checkpoint files, the tokenizer's vocabulary and, with `guide`, the noised CLIP's
    two files, so a run without them fails before any work."""
    if spec.random_weights or spec.toy:
        return
    for stage in ("base", "upsample"):
        checkpoint_file(spec, stage)
    if guide:
        for part in CLIP_PARTS:
            clip_file(spec, part)
    load_encoding(preset(spec.base).tokenizer)


def load_guide(spec: ModelSpec, device: torch.device) -> ClipGuide:
    """The noised CLIP in eval mode on `device`: the released encoders, or random ones drawn from seed + 2."""
    cfg = clip_preset(spec.clip)
    if spec.random_weights:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed + CLIP_SEED_OFFSET)
            text_encoder, image_encoder = TextEncoder(cfg).eval(), ImageEncoder(cfg).eval()
    else:
        paths = clip_file(spec, "clip_text_enc"), clip_file(spec, "clip_image_enc")
        text_encoder, image_encoder = load_encoders(*paths, cfg)
    # Frozen weights; the guidance gradient is taken with respect to x_t only.
    text_encoder, image_encoder = (m.requires_grad_(False).to(device) for m in (text_encoder, image_encoder))
    return ClipGuide(text_encoder, image_encoder, device)


def load_pipeline(
    spec: ModelSpec,
    *,
    device: str = "cpu",
    dtype: str = "fp32",
    per_sample: bool = True,
    compile: bool = False,
    tokenizer: str | None = None,
    guide: bool = False,
) -> GlidePipeline:
    """Both stages in eval mode on `device`, under autocast to `dtype` (fp32, bf16 or fp16).

    `per_sample` runs one forward per sample, so pixels do not depend on the batch (see pipeline.batched);
    `compile` compiles each UNet's forward with torch.compile (the step loop has one fixed shape per stage).
    `tokenizer` replaces the presets' encoding (e.g. "bytes" to time random-weight models offline).
    `guide` loads the noised CLIP too (a gradient guidance such as sampler.guidance=clip needs it).
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
    return GlidePipeline(*stages, guide=load_guide(spec, torch_device) if guide else None)
