"""Checkpoint files are named by their content in the model id: every file a run uses (given or cached) is
hashed once, the digest kept by (path, size, mtime); a file with the released layout is labelled official.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from harness.glide.models import ModelSpec, model_id, random_model


def save(state_dict: dict, path: Path) -> Path:
    torch.save(state_dict, path)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path) -> Path:
    """A GLIDE cache holding checkpoint files of the tiny presets (random weights, the released layout)."""
    save(random_model("tiny_base", 0).state_dict(), tmp_path / "base.pt")
    save(random_model("tiny_upsample", 1).state_dict(), tmp_path / "upsample.pt")
    return tmp_path


def spec(cache: Path, **paths) -> ModelSpec:
    return ModelSpec(name="glide-tiny", base="tiny_base", upsample="tiny_upsample", cache_dir=str(cache), **paths)


def test_cached_checkpoints_are_named_by_their_sha256(cache):
    found = model_id(spec(cache, download=False))
    assert found.endswith(f":official-{sha(cache / 'base.pt')[:12]}-{sha(cache / 'upsample.pt')[:12]}")


def test_other_weights_in_the_cache_get_another_model_id(cache):
    before = model_id(spec(cache, download=False))
    save(random_model("tiny_base", 7).state_dict(), cache / "base.pt")
    after = model_id(spec(cache, download=False))
    assert after != before and sha(cache / "base.pt")[:12] in after


def test_an_explicit_path_is_fingerprinted_like_a_cached_file(cache, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("mine") / "my_base.pt"
    save(random_model("tiny_base", 3).state_dict(), elsewhere)
    found = model_id(spec(cache, base_path=str(elsewhere), download=False))
    assert f"-{sha(elsewhere)[:12]}-{sha(cache / 'upsample.pt')[:12]}" in found


def test_a_file_without_the_released_layout_is_not_labelled_official(cache):
    state = random_model("tiny_base", 0).state_dict()
    save({key: value.half() for key, value in state.items()}, cache / "base.pt")  # float16: not the release
    assert ":files-" in model_id(spec(cache, download=False))


def test_the_digest_is_read_from_the_cache_until_the_file_changes(cache):
    first = model_id(spec(cache, download=False))
    record = cache / "fingerprints.json"
    assert ":official-" in first
    known = json.loads(record.read_text())
    base = str((cache / "base.pt").resolve())
    stat = (cache / "base.pt").stat()
    assert (known[base]["size"], known[base]["mtime_ns"], known[base]["sha256"]) == (
        stat.st_size,
        stat.st_mtime_ns,
        sha(cache / "base.pt"),
    )
    known[base]["sha256"] = "c0ffee" * 10  # what the model id shows proves where the digest came from
    record.write_text(json.dumps(known))
    assert ":official-c0ffeec0ffee-" in model_id(spec(cache, download=False))
    os.utime(cache / "base.pt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the file changed: hash again
    assert f":official-{sha(cache / 'base.pt')[:12]}-" in model_id(spec(cache, download=False))
