"""Prompt suites: the prompts of a run, with ids, tags and the class a control prompt names.

A suite comes from a config file (conf/suite/NAME.yaml) or from a .txt / .csv file of prompts (suite.path).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.config.schema import PromptConfig, SuiteConfig
from harness.errors import ConfigError

_CSV_RESERVED = ("id", "text", "expected_class")


@dataclass(frozen=True)
class GeneratedSource:
    """A source image the harness makes: the text-to-image sample of `prompt` at `seed`."""

    prompt: str
    seed: int


_SOURCE_KEYS = ("prompt", "seed")


def generated_source(image: Any, where: str) -> GeneratedSource | None:
    """The generated source an `image: {prompt, seed}` names, checked; None for an image path."""
    if not isinstance(image, Mapping):
        return None
    if sorted(image) != sorted(_SOURCE_KEYS):
        raise ConfigError(
            f"{where}: generated source keys {sorted(image)} are not allowed; give exactly prompt and seed "
            "(e.g. image: {prompt: a field of grass, seed: 0}), or a path to an image"
        )
    prompt, seed = image["prompt"], image["seed"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f"{where}: generated source prompt {prompt!r} must be a non-empty text")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{where}: generated source seed {seed!r} must be an integer >= 0")
    return GeneratedSource(prompt.strip(), seed)


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    tags: dict[str, str] = field(default_factory=dict)
    expected_class: str | None = None
    objects: tuple[str, ...] | None = None  # named objects the image should show (detect scorer)
    phrases: tuple[str, ...] | None = None  # phrases whose image area is measured (detect scorer)
    image: str | None = None  # inpainting: the source image's path (a generated source's once it is sampled)
    mask: Any = None  # inpainting: a 64x64 mask image's path, or a rectangle {left, top, right, bottom}
    inputs_digest: str | None = None  # the pixels of image and mask (harness/config/inpaint_inputs.py), for the keys
    source: GeneratedSource | None = None  # inpainting: the text-to-image sample that is the source image

    @property
    def has_inputs(self) -> bool:
        """Whether the prompt carries more than text: an image, a mask or a generated source."""
        return self.image is not None or self.mask is not None or self.source is not None


@dataclass(frozen=True)
class Suite:
    name: str
    prompts: tuple[Prompt, ...]
    description: str = ""

    @property
    def tag_names(self) -> list[str]:
        return sorted({name for prompt in self.prompts for name in prompt.tags})

    @property
    def sources(self) -> list[GeneratedSource]:
        """The generated sources its prompts name, each once, in prompt order."""
        return list(dict.fromkeys(p.source for p in self.prompts if p.source is not None))

    def with_sources(self, files: Mapping[GeneratedSource, str]) -> Suite:
        """The suite with each generated source's file as its prompt's image, read and digested like a given one."""
        from harness.config.inpaint_inputs import (
            prompt_inputs,  # torch: only once an inpainting suite's sources exist
        )

        prompts = []
        for prompt in self.prompts:
            if prompt.source is not None and prompt.image is None:
                resolved = replace(prompt, image=str(files[prompt.source]))
                inputs = prompt_inputs(resolved, f"suite {self.name!r}: prompt {prompt.id!r}")
                prompt = replace(resolved, inputs_digest=inputs.digest)
            prompts.append(prompt)
        return replace(self, prompts=tuple(prompts))


_loaded: dict[tuple, Suite] = {}


def load_suite(cfg: SuiteConfig) -> Suite:
    """The suite of `cfg`: its listed prompts, then those of `cfg.path`; refuses an empty suite or repeated ids.

    Read and checked once per process (the command's checks read it before Hydra starts the job, which then
    gets the same suite): keyed by the config, the working directory and the prompt file's size and time."""
    file = Path(cfg.path).expanduser() if cfg.path is not None else None
    stamp = (file.stat().st_size, file.stat().st_mtime_ns) if file is not None and file.is_file() else None
    key = (str(Path.cwd()), repr(cfg), stamp)
    if key not in _loaded:
        _loaded[key] = _read_suite(cfg)
    return _loaded[key]


def _read_suite(cfg: SuiteConfig) -> Suite:
    prompts = [_prompt(p, cfg.name) for p in cfg.prompts]
    if cfg.path is not None:
        from_file = read_prompt_file(Path(cfg.path))
        if not from_file:
            raise ConfigError(f"suite.path: {cfg.path!r} holds no prompts (blank lines and # comments are skipped)")
        prompts += from_file
    if not prompts:
        raise ConfigError(f"suite {cfg.name!r} has no prompts: list them under `prompts:` or give suite.path")
    seen: set[str] = set()
    for prompt in prompts:
        if not prompt.id.strip():
            raise ConfigError(f"suite {cfg.name!r}: prompt {prompt.text!r} has an empty id; give it a non-blank id")
        if not prompt.text.strip():
            raise ConfigError(f"suite {cfg.name!r}: prompt {prompt.id!r} has an empty text")
        if prompt.id in seen:
            raise ConfigError(f"suite {cfg.name!r}: prompt id {prompt.id!r} appears twice; ids must be unique")
        seen.add(prompt.id)
    return Suite(cfg.name, tuple(prompts), cfg.description)


def _items(values: list[str] | None, where: str) -> tuple[str, ...] | None:
    """A prompt's objects or phrases as a tuple; an empty list or a blank item is refused."""
    if values is None:
        return None
    items = tuple(str(v).strip() for v in values)
    if not items or not all(items):
        raise ConfigError(f"{where}: {list(values)!r} must be a non-empty list of non-blank strings, or left out")
    return items


def _prompt(p: PromptConfig, suite: str) -> Prompt:
    """A suite prompt of its config; an inpainting prompt's image and mask are read and checked here."""
    tags = {k: str(v) for k, v in p.tags.items()}
    mask = dict(p.mask) if isinstance(p.mask, Mapping) else p.mask
    where = f"suite {suite!r}: prompt {p.id!r}"
    source = generated_source(p.image, where)
    if p.image is not None or p.mask is not None:  # an inpainting prompt: its pixels are read with torch
        from harness.config.inpaint_inputs import prompt_inputs, read_mask
    if source is not None:  # its pixels exist once the job has sampled it; the mask is checked now
        if p.mask is None:
            raise ConfigError(f"{where}: an inpainting prompt needs both image and mask; mask is missing")
        read_mask(mask, where)
        digest, image = None, None
    elif p.image is None and p.mask is None:
        digest, image = None, None
    else:
        digest, image = prompt_inputs(p).digest, p.image
    return Prompt(
        p.id,
        p.text,
        tags,
        p.expected_class,
        objects=_items(p.objects, f"{where} objects"),
        phrases=_items(p.phrases, f"{where} phrases"),
        image=image,
        mask=mask,
        inputs_digest=digest,
        source=source,
    )


def read_prompt_file(path: Path) -> list[Prompt]:
    """Prompts from a .txt file (one per line; blank lines and # comments skipped) or a .csv with a `text` column."""
    if path.is_dir():
        raise ConfigError(f"suite.path: {str(path)!r} is a directory; give a .txt or .csv file of prompts")
    if not path.is_file():
        raise ConfigError(f"suite.path: prompt file {str(path)!r} does not exist")
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    if path.suffix.lower() != ".txt":
        raise ConfigError(f"suite.path: {str(path)!r} is neither a .txt nor a .csv file of prompts")
    lines = [line.strip() for line in _read_utf8(path).splitlines()]
    texts = [line for line in lines if line and not line.startswith("#")]
    return [Prompt(prompt_id(text, i), text) for i, text in enumerate(texts)]


def _read_utf8(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")  # a spreadsheet's byte-order mark is not the first column
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"suite.path: prompt file {str(path)!r} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
            f"{err.start}); save it as UTF-8"
        ) from None


def _read_csv(path: Path) -> list[Prompt]:
    reader = csv.DictReader(io.StringIO(_read_utf8(path), newline=""))
    rows = list(reader)
    if rows and "text" not in rows[0]:
        raise ConfigError(f"suite.path: {str(path)!r} has no `text` column (columns: {', '.join(rows[0])})")
    prompts = []
    for i, row in enumerate(rows):
        if None in row or None in row.values():  # DictReader's marks of a row longer / shorter than the header
            fields = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or [])
            raise ConfigError(
                f"suite.path: {str(path)!r} row {i + 1} has {fields} fields where the header has "
                f"{len(reader.fieldnames or [])}; every row needs one value per column"
            )
        tags = {k: v for k, v in row.items() if k not in _CSV_RESERVED and v not in (None, "")}
        expected = row.get("expected_class") or None
        prompts.append(Prompt(row.get("id") or prompt_id(row["text"], i), row["text"].strip(), tags, expected))
    return prompts


def prompt_id(text: str, index: int) -> str:
    """A readable id for a prompt given without one: its position and its first words."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]
    return f"{index:04d}_{slug}"
