"""The weight files a scorer loads, whether each is on this machine and readable without running code, so a
run can refuse before sampling; and the guard every library's loading runs under.

A weight is a local file or folder, or a Hugging Face hub file or model repository looked up in the hub cache.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputFileError

# A transformers model repository is usable offline once its config and one of its weight formats are cached.
MODEL_CONFIG_FILE = "config.json"
MODEL_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class WeightFile:
    """One thing a scorer loads: `source` is a local path or `hf://REPO[/FILE]`; `fetch` is the shell command
    that puts a hub weight where its loader looks (None for a local path: there is nothing to fetch)."""

    label: str
    source: str
    available: bool
    fetch: str | None
    tensor_file: bool = False  # a local file whose content is checked before sampling (see unreadable)


def _cached(repo: str, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, filename), str)


def local_path(label: str, path: str | Path) -> WeightFile:
    """A file or folder the user points at; it is available when it exists."""
    return WeightFile(label, str(path), Path(path).exists(), None)


def hub_file(label: str, repo: str, filename: str) -> WeightFile:
    """One file of a hub repository, available when it is in the Hugging Face cache."""
    return WeightFile(label, f"hf://{repo}/{filename}", _cached(repo, filename), f"hf download {repo} {filename}")


def pretrained(label: str, name_or_dir: str, *, needs_weights: bool = True) -> WeightFile:
    """A `from_pretrained` source: a local folder (with config.json) or a hub model repository.

    `needs_weights=False` is for processor-only repositories (tokenizer and image processor files).
    """
    if Path(name_or_dir).is_dir():
        folder = Path(name_or_dir)
        has_weights = (folder / MODEL_CONFIG_FILE).is_file() and any((folder / n).is_file() for n in MODEL_WEIGHT_FILES)
        return WeightFile(label, name_or_dir, has_weights or not needs_weights, None)
    if needs_weights:
        available = _cached(name_or_dir, MODEL_CONFIG_FILE) and any(
            _cached(name_or_dir, name) for name in MODEL_WEIGHT_FILES
        )
        fetch = f"hf download {name_or_dir}"
    else:
        available = _cached(name_or_dir, "tokenizer_config.json")
        # A processor is a few small JSON and text files; the repository's weights can be gigabytes.
        fetch = f"hf download {name_or_dir} --include '*.json' --include '*.txt'"
    return WeightFile(label, f"hf://{name_or_dir}", available, fetch)


def open_clip_weights(label: str, model: str, pretrained: str | None) -> tuple[WeightFile, ...]:
    """The file open_clip's `create_model(model, pretrained)` loads, looked up where open_clip downloads it.

    A pretrained tag resolves through open_clip's registry: its `hf_hub` entry (ORG/REPO/ or ORG/REPO/FILE,
    the file defaulting to open_clip's weights name, a .safetensors twin preferred) in the Hugging Face cache,
    else its `url`, saved under its basename in ~/.cache/clip. Random weights (pretrained null) need nothing.
    """
    import open_clip

    fetch = f"python -m harness.fetch --only clip --clip {model}:{pretrained}"
    if pretrained is None:
        if model.startswith("hf-hub:"):
            repo = model.removeprefix("hf-hub:").strip("/")
            available = _cached(repo, "open_clip_config.json") and _open_clip_hub_file_cached(repo, None)
            return (
                WeightFile(label, f"hf://{repo}", available, f"python -m harness.fetch --only clip --clip {model}"),
            )
        if model.startswith("local-dir:"):
            return (local_path(label, model.removeprefix("local-dir:")),)
        return ()
    cfg = open_clip.pretrained.get_pretrained_cfg(model, pretrained)
    if not cfg:
        return (local_path(label, pretrained),)
    if cfg.get("file"):  # a tag of the harness's own weights, shipped in the package
        return (WeightFile(label, cfg["file"], Path(cfg["file"]).is_file(), None, tensor_file=True),)
    if cfg.get("hf_hub"):
        repo, filename = cfg["hf_hub"].rstrip("/"), None
        if not cfg["hf_hub"].endswith("/"):
            repo, filename = cfg["hf_hub"].rsplit("/", 1)
        name = filename or open_clip.pretrained.HF_WEIGHTS_NAME
        return (WeightFile(label, f"hf://{repo}/{name}", _open_clip_hub_file_cached(repo, filename), fetch),)
    url = cfg["url"]
    path = Path("~/.cache/clip").expanduser() / url.rsplit("/", 1)[-1]
    return (WeightFile(label, str(path), path.is_file(), fetch, tensor_file=True),)


def _open_clip_hub_file_cached(repo: str, filename: str | None) -> bool:
    import open_clip

    filename = filename or open_clip.pretrained.HF_WEIGHTS_NAME
    names = [*open_clip.pretrained._get_safe_alternatives(filename), filename]
    return any(_cached(repo, name) for name in names)


def torch_hub_path(url: str) -> Path:
    """Where torch.hub's `load_state_dict_from_url` keeps `url`: <torch hub dir>/checkpoints/<basename>."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def torch_hub_checkpoint(label: str, url: str, fetch: str) -> WeightFile:
    """A file torch.hub's `load_state_dict_from_url` keeps under <torch hub dir>/checkpoints/<basename>."""
    path = torch_hub_path(url)
    return WeightFile(label, str(path), path.is_file(), fetch, tensor_file=True)


def missing(weights: Iterable[WeightFile]) -> list[WeightFile]:
    """The weights that are not on this machine, in order."""
    return [weight for weight in weights if not weight.available]


ALLOWED_WEIGHTS = "a .safetensors file or a torch.save file of tensors"


def weights_file_problem(path: str | Path) -> str | None:
    """Why `path` cannot be read as weights without running code (missing, unreadable, a pickle of more than
    tensors, a TorchScript archive), in one line naming it; None when it can."""
    from harness.glide.checkpoints import CheckpointError, check_weights_file

    try:
        check_weights_file(Path(path).expanduser())
    except CheckpointError as err:
        return str(err)
    return None


def require_weights_file(path: str | Path) -> None:
    """InputFileError with weights_file_problem's line, unless `path` reads as weights without running code."""
    if problem := weights_file_problem(path):
        raise InputFileError(problem)


def folder_weights_problem(name_or_dir: str) -> str | None:
    """weights_file_problem of the first unreadable weight file of a local `from_pretrained` folder; None for
    a hub id or a folder whose weight files all read without running code."""
    folder = Path(name_or_dir).expanduser()
    if not folder.is_dir():
        return None
    files = (folder / name for name in MODEL_WEIGHT_FILES if (folder / name).is_file())
    return next(filter(None, map(weights_file_problem, files)), None)


def require_folder_weights(name_or_dir: str) -> None:
    """InputFileError with folder_weights_problem's line, if there is one."""
    if problem := folder_weights_problem(name_or_dir):
        raise InputFileError(problem)


def unreadable(weights: Iterable[WeightFile]) -> list[tuple[WeightFile, str]]:
    """The local tensor files among `weights` that are present but cannot be read without running code."""
    found = []
    for weight in weights:
        if weight.tensor_file and weight.available and (problem := weights_file_problem(weight.source)):
            found.append((weight, problem))
    return found


_FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
_FORCE_NO_WEIGHTS_ONLY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


@contextmanager
def weights_only_loads(source: str | Path) -> Iterator[None]:
    """Every torch.load inside reads tensors only, even where a library passes weights_only=False; a file that
    holds more becomes one InputFileError naming `source` (the file, or where the library looks for it).

    torch-fidelity's Inception (and torchmetrics' subclass of it), torch.hub's load_state_dict_from_url (behind
    torchvision's pretrained backbones) and open_clip take a path or URL, not tensors, and call torch.load
    inside their constructors; TORCH_FORCE_WEIGHTS_ONLY_LOAD is the one switch torch reads on every call that
    overrides an explicit weights_only=False. torch refuses the pair of forcing variables, so the opposite one
    is lifted meanwhile; both are restored afterwards. Models are built on the main thread, one at a time.
    """
    saved = {name: os.environ.get(name) for name in (_FORCE_WEIGHTS_ONLY, _FORCE_NO_WEIGHTS_ONLY)}
    os.environ[_FORCE_WEIGHTS_ONLY] = "1"
    os.environ.pop(_FORCE_NO_WEIGHTS_ONLY, None)
    try:
        yield
    except pickle.UnpicklingError as err:
        from harness.glide.checkpoints import refused_global

        name = refused_global(str(err))
        what = f"its pickle calls {name}" if name else "its pickle is more than a safe load reads"
        raise InputFileError(
            f"{source} holds more than a state dict of tensors ({what}, which a safe load never runs); "
            f"weights must be {ALLOWED_WEIGHTS}"
        ) from None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
