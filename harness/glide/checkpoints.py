"""Resolve, download and validate the released GLIDE checkpoint files.

A name resolves to an explicit path, else the cache file, else an atomic download from the official URL.
"""

from __future__ import annotations

import http.client
import logging
import os
import pickle
import re
import struct
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file as load_safetensors
from tqdm import tqdm

from .bad_input import GlideInputError
from .files import publish

log = logging.getLogger(__name__)

OFFICIAL_BASE_URL = "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/"
CACHE_ENV_VAR = "GLIDE_CACHE"
DOWNLOAD_TIMEOUT_S = 60.0
DOWNLOAD_CHUNK_BYTES = 1 << 20


class CheckpointError(GlideInputError):
    """A checkpoint that cannot be found, fetched or loaded; the message is the whole explanation."""


MODES = ("text2im", "inpaint", "clip")


@dataclass(frozen=True)
class CheckpointInfo:
    """One released checkpoint: where it is published, the file name it is cached under, the mode it serves."""

    name: str
    filename: str
    description: str
    base_url: str = OFFICIAL_BASE_URL
    mode: str = "text2im"  # one of MODES: text-to-image, inpainting ("Editing"), or noised-CLIP guidance

    def url(self, base_url: str | None = None) -> str:
        return (base_url or self.base_url).rstrip("/") + "/" + self.filename


# The six files of the December 2021 release. Each name is also the model preset (config.PRESETS) or the
# noised-CLIP encoder whose state dict the file holds.
RELEASED_CHECKPOINTS: dict[str, CheckpointInfo] = {
    "base": CheckpointInfo("base", "base.pt", "64x64 text-conditional base model"),
    "upsample": CheckpointInfo("upsample", "upsample.pt", "64 -> 256 text-conditional upsampler"),
    "base_inpaint": CheckpointInfo(
        "base_inpaint", "base_inpaint.pt", "64x64 text-conditional inpainting base model", mode="inpaint"
    ),
    "upsample_inpaint": CheckpointInfo(
        "upsample_inpaint", "upsample_inpaint.pt", "64 -> 256 text-conditional inpainting upsampler", mode="inpaint"
    ),
    "clip_image_enc": CheckpointInfo(
        "clip_image_enc", "clip_image_enc.pt", "noised CLIP image encoder (64x64 x_t and timestep)", mode="clip"
    ),
    "clip_text_enc": CheckpointInfo("clip_text_enc", "clip_text_enc.pt", "noised CLIP text encoder", mode="clip"),
}

# What a text-to-image run needs (and `python -m harness.fetch` pre-fetches); the other modes' files resolve
# through the same functions by name.
CHECKPOINTS: dict[str, CheckpointInfo] = {
    name: info for name, info in RELEASED_CHECKPOINTS.items() if info.mode == "text2im"
}


def checkpoints_of_mode(mode: str) -> dict[str, CheckpointInfo]:
    """The released checkpoints that `mode` (text2im, inpaint or clip) needs, in release order."""
    if mode not in MODES:
        raise CheckpointError(f"unknown GLIDE mode {mode!r}; allowed: {', '.join(MODES)}")
    return {name: info for name, info in RELEASED_CHECKPOINTS.items() if info.mode == mode}


def checkpoint_info(name: str) -> CheckpointInfo:
    """The registry entry for `name`, or a CheckpointError listing the known names."""
    try:
        return RELEASED_CHECKPOINTS[name]
    except KeyError:
        known = ", ".join(RELEASED_CHECKPOINTS)  # release order: text-to-image first
        raise CheckpointError(f"unknown GLIDE checkpoint {name!r}; known checkpoints: {known}") from None


def default_cache_dir() -> Path:
    """$GLIDE_CACHE when set, else `glide/` under the user cache dir of glide-eval."""
    from_env = os.environ.get(CACHE_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_cache_dir("glide-eval")) / "glide"


def offline_message(url: str, dest: Path, reason: str, mode: str = "text2im") -> str:
    """The one-paragraph explanation for a file that could not be downloaded; `mode` names its fetch."""
    fetch = "python -m harness.fetch" + ("" if mode == "text2im" else f" --only glide --modes {mode}")
    return (
        f"Could not download {url} ({reason}). To run without network access, download that file on a "
        f"machine that has it and put it at {dest}, or run `{fetch}` on such a machine "
        f"and copy its cache folders over."
    )


def download_file(url: str, dest: Path, mode: str = "text2im") -> None:
    """Download `url` to `dest` with a progress bar, atomically.

    The body goes to `<dest>.part-<random>` in the same folder and is renamed only when complete and
    synced to disk; on any failure (including KeyboardInterrupt) the partial file is removed.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, part_name = tempfile.mkstemp(prefix=dest.name + ".part-", dir=dest.parent)
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_url_to(url, out, desc=dest.name)
            out.flush()
            os.fsync(out.fileno())
        publish(part, dest)  # with the umask's mode, as any file the user creates
    except (OSError, http.client.HTTPException) as err:
        part.unlink(missing_ok=True)
        raise CheckpointError(offline_message(url, dest, _reason(err), mode)) from err
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _copy_url_to(url: str, out, *, desc: str) -> None:
    log.info("downloading %s", url)
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None else None
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc) as bar:
            while chunk := response.read(DOWNLOAD_CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    # http.client does not always notice a connection closed early; the byte count does.
    if total is not None and received != total:
        raise http.client.IncompleteRead(b"", total - received)


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"network error: {err.reason}"
    if isinstance(err, http.client.IncompleteRead):
        return "the connection closed before the whole file arrived"
    return f"{type(err).__name__}: {err}"


def resolve_checkpoint(
    name: str,
    *,
    path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    base_url: str | None = None,
) -> Path:
    """The local file of checkpoint `name`: the explicit `path`, else the cache file, else a download.

    `base_url` replaces the registry's URL prefix (a mirror); the file name stays the registry's.
    """
    info = checkpoint_info(name)
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise CheckpointError(f"checkpoint file for {name!r} not found: {explicit}")
        return explicit
    cached = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / info.filename
    if cached.is_file():
        return cached
    url = info.url(base_url)
    if not download:
        raise CheckpointError(offline_message(url, cached, "it is not in the cache and downloading is off", info.mode))
    log.info("GLIDE checkpoint %r is not cached; downloading it to %s", name, cached)
    download_file(url, cached, info.mode)
    return cached


def expected_shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The key -> shape map a checkpoint for `module` must match, in the module's own order."""
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def validate_state_dict(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], *, source: str
) -> None:
    """Raise CheckpointError naming the first missing or wrong-shape key (in expected order), else the
    first unexpected key; say nothing when every key and shape matches."""
    bad = [
        key for key, shape in expected.items() if key not in state_dict or tuple(state_dict[key].shape) != tuple(shape)
    ]
    unexpected = [key for key in state_dict if key not in expected]
    if not bad and not unexpected:
        return
    n_missing = sum(key not in state_dict for key in bad)
    if not bad:
        problem = f"has unexpected key {unexpected[0]!r}"
    elif bad[0] not in state_dict:
        problem = f"lacks key {bad[0]!r} (expected shape {tuple(expected[bad[0]])})"
    else:
        got, want = tuple(state_dict[bad[0]].shape), tuple(expected[bad[0]])
        problem = f"has key {bad[0]!r} with shape {got}, expected {want}"
    counts = f"{n_missing} missing, {len(unexpected)} unexpected, {len(bad) - n_missing} wrong shape"
    raise CheckpointError(
        f"checkpoint {source} does not match the model: it {problem} ({counts}); "
        "is it the checkpoint of another model (base vs upsample)?"
    )


def expected_dtypes(module: torch.nn.Module) -> dict[str, torch.dtype]:
    """The key -> dtype map of `module`'s state dict (a meta-device module has it too)."""
    return {key: value.dtype for key, value in module.state_dict().items()}


def load_state_dict(
    path: Path,
    expected: Mapping[str, tuple[int, ...]],
    *,
    dtypes: Mapping[str, torch.dtype] | None = None,
) -> dict[str, torch.Tensor]:
    """Load a `torch.save`d or `.safetensors` state dict on the CPU and validate it against `expected`.

    With `dtypes` (see expected_dtypes), floating-point tensors are converted to the module's own dtypes: a file
    saved in float16 then loads into a float32 model, instead of leaving it with weights of mixed dtypes.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    state_dict = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    validate_state_dict(state_dict, expected, source=str(path))
    if dtypes is not None:
        state_dict = _cast(state_dict, dtypes, path)
    return state_dict


def _cast(
    state_dict: dict[str, torch.Tensor], dtypes: Mapping[str, torch.dtype], path: Path
) -> dict[str, torch.Tensor]:
    for key, tensor in state_dict.items():
        want = dtypes[key]
        if tensor.dtype == want:
            continue
        if not (tensor.is_floating_point() and want.is_floating_point):
            raise CheckpointError(f"checkpoint {path} has key {key!r} of dtype {tensor.dtype}, expected {want}")
        state_dict[key] = tensor.to(want)
    return state_dict


def check_weights_file(path: Path) -> None:
    """Raise CheckpointError unless `path` reads as weights without running code: a .safetensors file (its
    header is read), or a torch.save file whose pickle names nothing but tensors and plain containers (read
    with weights_only=True, memory-mapped when it is a zip, so that a large file costs little)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except (SafetensorError, OSError) as err:
            raise _incomplete(path) from err
        return
    _torch_load(path)


def _incomplete(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path} is not a complete checkpoint (truncated download?); delete it and run python -m harness.fetch"
    )


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors(str(path), device="cpu")
    except SafetensorError as err:
        raise _incomplete(path) from err


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    loaded = _torch_load(path)
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(loaded)


# torch.save writes a zip archive, or (before torch 1.6, or asked to) the legacy format, which opens with this
# pickled magic number; torch.load reads nothing else. A bare pickle opens with PROTO (0x80) and its protocol.
_LEGACY_TORCH_HEADER = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)[:-1]
_PICKLE_PROTOCOLS = range(2, pickle.HIGHEST_PROTOCOL + 1)
_ZIP_HEADER = b"PK\x03\x04"
# What torch's weights-only unpickler says when a pickle names a callable or class it will not run.
_REFUSED_NAME = re.compile(r"GLOBAL (\S+) (?:was not an allowed global|whose module \S+ is blocked)")


def refused_global(message: str) -> str | None:
    """The callable or class that torch's weights-only unpickler refused to run, from its error message."""
    found = _REFUSED_NAME.search(message)
    return found.group(1) if found else None


def _torch_load(path: Path) -> object:
    """torch.load with weights_only=True (never code from the file), every failure one CheckpointError."""
    mmap = zipfile.is_zipfile(path)  # mmap needs the zip format; legacy files are read into memory
    if not mmap:
        _check_legacy_header(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        if name := refused_global(str(err)):
            raise CheckpointError(
                f"{path} holds more than a state dict of tensors (its pickle calls {name}, which a "
                "safe load never runs); save `model.state_dict()` with torch.save or as .safetensors instead"
            ) from None
        raise _incomplete(path) from err
    except RuntimeError as err:
        if "TorchScript" in str(err):
            raise CheckpointError(
                f"{path} is a TorchScript archive, which holds code; save the model's `state_dict()` with "
                "torch.save or as .safetensors instead"
            ) from None
        raise _incomplete(path) from err
    # A legacy (pickle) file cut inside an opcode's argument fails as an index or struct error, where the cut
    # falls depends on the pickle bytes, which differ between Python versions.
    except (EOFError, ValueError, IndexError, struct.error, zipfile.BadZipFile) as err:
        raise _incomplete(path) from err


def _check_legacy_header(path: Path) -> None:
    with path.open("rb") as f:
        head = f.read(len(_LEGACY_TORCH_HEADER))
    if _LEGACY_TORCH_HEADER.startswith(head):  # empty, or the start of a torch.save file cut short
        return
    if head.startswith(_ZIP_HEADER):  # a zip without its central directory, which sits at the end
        raise _incomplete(path)
    if head[:1] == b"\x80" and head[1] in _PICKLE_PROTOCOLS:
        raise CheckpointError(
            f"{path} is a bare Python pickle, not a torch.save or safetensors file; unpickling it could run code, "
            "so it is not read"
        )
    raise CheckpointError(f"{path} is not a readable torch.save or safetensors file")
