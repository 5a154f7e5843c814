"""Weight files that run code when unpickled: the planted proof for every loader's refusal."""

from __future__ import annotations

import pathlib
import pickle
from pathlib import Path

import torch


class RunsCode:
    """Unpickling this touches `marker`: the proof that loading a file ran code the file carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def plant(path: Path, marker: Path, form: str = "torch") -> Path:
    """A weight file that runs code when unpickled: a torch.save dict (zip or legacy format) or a bare pickle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"weight": torch.zeros(2), "bias": RunsCode(marker)}
    if form == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=form == "torch")
    return path
