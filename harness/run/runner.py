"""Run a plan: sample what the store lacks (base 64px, then 256px upsamples) and build the run's manifest.

Base samples are keyed apart from the upsampler's parameters, so a sweep over upsample temperatures runs
the base model once per (prompt, seed, guidance).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.hooks import RemovableHandle

from harness.config.schema import pixel_fields
from harness.generate.boundary import MODES, Generator
from harness.run.plan import SampleSpec, Sampling
from harness.run.progress import SamplingProgress
from harness.run.store import SampleStore

log = logging.getLogger(__name__)


@dataclass
class SamplingStats:
    """What a run computed and what it found in the store; `*_forwards` counts UNet calls."""

    base_sampled: int = 0
    base_reused: int = 0
    upsample_sampled: int = 0
    upsample_reused: int = 0
    base_forwards: int = 0
    upsample_forwards: int = 0
    sampling_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _batches(specs: Sequence[SampleSpec], size: int) -> Iterator[Sequence[SampleSpec]]:
    """Batches of at most `size` specs that share their sampling settings (a batch runs one loop)."""
    groups: dict[Sampling, list[SampleSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.sampling, []).append(spec)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start : start + size]


def _unique(specs: Sequence[SampleSpec], key: Callable[[SampleSpec], str]) -> list[SampleSpec]:
    return list({key(spec): spec for spec in specs}.values())


def _count_forwards(generator: Generator, counts: dict[str, int]) -> list[RemovableHandle]:
    """Count the calls of the generator's networks (its `unets`, where it names them) per stage into `counts`;
    remove the returned hooks when done."""

    def counter(stage: str):
        def hook(module, args, output):
            counts[stage] += 1

        return hook

    unets = getattr(generator, "unets", {})
    return [unets[stage].register_forward_hook(counter(stage)) for stage in counts if stage in unets]


def sample_missing(
    specs: Sequence[SampleSpec],
    store: SampleStore,
    load_generator: Callable[[], Generator],
    *,
    batch_size: int,
    progress_file: IO[str] | None = None,
) -> SamplingStats:
    """Sample every base and upsampled image of `specs` that the store lacks; load the generator only if needed."""
    stats = SamplingStats()
    bases = _unique(specs, lambda s: s.base_key)
    ups = _unique(specs, lambda s: s.key)
    todo_base = [s for s in bases if not store.has("base", s.base_key)]
    todo_up = [s for s in ups if not store.has("upsample", s.key)]
    stats.base_reused, stats.upsample_reused = len(bases) - len(todo_base), len(ups) - len(todo_up)
    log.info(
        "%d samples planned: %d base and %d upsampled images to compute, %d and %d found in the store",
        len(specs), len(todo_base), len(todo_up), stats.base_reused, stats.upsample_reused,
    )  # fmt: skip
    if not todo_base and not todo_up:
        return stats
    generator = load_generator()
    forwards = {"base": 0, "upsample": 0}
    hooks = _count_forwards(generator, forwards)
    start = time.perf_counter()
    bars = SamplingProgress({"base": len(todo_base), "upsample": len(todo_up)}, file=progress_file)
    try:
        stats.base_sampled = _run_base(generator, todo_base, store, batch_size, bars)
        stats.upsample_sampled = _run_upsample(generator, todo_up, store, batch_size, bars)
    finally:
        bars.close()
        for hook in hooks:
            hook.remove()
    stats.base_forwards, stats.upsample_forwards = forwards["base"], forwards["upsample"]
    stats.sampling_s = time.perf_counter() - start
    # Another run sharing the store may have computed some of them meanwhile.
    stats.base_reused, stats.upsample_reused = len(bases) - stats.base_sampled, len(ups) - stats.upsample_sampled
    return stats


def _run_stage(
    stage: str,
    specs: Sequence[SampleSpec],
    store: SampleStore,
    batch_size: int,
    bars: SamplingProgress,
    key_of: Callable[[SampleSpec], str],
    meta_of: Callable[[SampleSpec], dict],
    prepare: Callable[[Sequence[SampleSpec]], Callable],
) -> int:
    """Sample and store one stage's images of `specs`, batch by batch under per-key claims; returns how many this
    run computed (others may share the store). `prepare(batch)` reads the batch's inputs and returns the sampling
    call, `progress -> images`, so that only that call is timed."""
    computed = 0
    for claimed in _batches(specs, batch_size):
        with store.claim(stage, [key_of(s) for s in claimed]) as missing:
            batch = [s for s in claimed if key_of(s) in missing]
            if batch:
                sample = prepare(batch)
                start = time.perf_counter()
                with bars.batch(stage, len(batch)) as progress:
                    images = sample(progress)
                seconds = (time.perf_counter() - start) / len(batch)
                for spec, image in zip(batch, images.numpy(), strict=True):
                    store.put(stage, key_of(spec), image, meta_of(spec), seconds=seconds)
        computed += len(batch)
        bars.done(len(claimed))
    return computed


def _run_base(
    generator: Generator, specs: Sequence[SampleSpec], store: SampleStore, batch_size: int, bars: SamplingProgress
) -> int:
    """Make and store the specs' base images; returns how many this run computed."""

    def prepare(batch: Sequence[SampleSpec]) -> Callable:
        requests = [spec.request() for spec in batch]
        return lambda progress: generator.base(requests, progress)

    def meta_of(spec: SampleSpec) -> dict:
        return {"prompt": spec.prompt.text, "seed": spec.seed}

    return _run_stage("base", specs, store, batch_size, bars, lambda s: s.base_key, meta_of, prepare)


def _run_upsample(
    generator: Generator, specs: Sequence[SampleSpec], store: SampleStore, batch_size: int, bars: SamplingProgress
) -> int:
    """Make and store the specs' 256px images from their base images; returns how many this run computed."""

    def prepare(batch: Sequence[SampleSpec]) -> Callable:
        requests = [spec.request() for spec in batch]
        low_res = torch.from_numpy(np.stack([store.get("base", s.base_key)[0] for s in batch]))
        return lambda progress: generator.upsample(requests, low_res, progress)

    def meta_of(spec: SampleSpec) -> dict:
        return {"prompt": spec.prompt.text, "seed": spec.seed, "base_key": spec.base_key}

    return _run_stage("upsample", specs, store, batch_size, bars, lambda s: s.key, meta_of, prepare)


def missing_keys(specs: Sequence[SampleSpec], store: SampleStore) -> list[str]:
    """The 256px keys of `specs` not in the store (e.g. shards still running)."""
    return [s.key for s in _unique(specs, lambda s: s.key) if not store.has("upsample", s.key)]


def manifest(
    specs: Sequence[SampleSpec],
    store: SampleStore,
    *,
    suite: str,
    random_weights: bool,
    environment: dict[str, str | int] | None = None,
) -> pd.DataFrame:
    """One row per sample of `specs` (all in the store): spec, parameters, file paths and timings, and the
    `environment` this run samples with (harness.run.environment)."""
    tag_names = sorted({name for spec in specs for name in spec.prompt.tags})
    mode_columns: dict[tuple[str, str], dict] = {}
    rows = []
    for spec in specs:
        s = spec.sampling
        row = {
            "key": spec.key,
            "base_key": spec.base_key,
            "suite": suite,
            "prompt_id": spec.prompt.id,
            "prompt": spec.prompt.text,
            "expected_class": spec.prompt.expected_class,
            "objects": None if spec.prompt.objects is None else list(spec.prompt.objects),
            "phrases": None if spec.prompt.phrases is None else list(spec.prompt.phrases),
            **{f"tag.{name}": spec.prompt.tags.get(name) for name in tag_names},
            "seed": spec.seed,
            **s.params.stage_fields(),
            "model_id": s.model_id,
            "random_weights": random_weights,
            "dtype": s.dtype,
            "device_type": s.device_type,
            **(environment or {}),
            "path_64": str(store.path("base", spec.base_key)),
            "path_256": str(store.path("upsample", spec.key)),
            "time_base_s": store.seconds("base", spec.base_key),
            "time_up_s": store.seconds("upsample", spec.key),
            "saturated": saturated(store.path("base", spec.base_key)),
        }
        if (s.mode, spec.prompt.id) not in mode_columns:  # the mode's own columns (inpainting's source and mask)
            mode_columns[s.mode, spec.prompt.id] = MODES[s.mode].columns(spec.prompt, store.root)
        row.update(mode_columns[s.mode, spec.prompt.id])
        rows.append(row)
    # A shard may hold no prompts (more shards than prompts): its manifest is empty but has the same columns.
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=_empty_manifest_columns(environment))
    for column in ("expected_class", "objects", "phrases"):
        frame[column] = frame[column].astype(object)
    return frame


def _empty_manifest_columns(environment: dict[str, str | int] | None) -> list[str]:
    identity = ["key", "base_key", "suite", "prompt_id", "prompt", "expected_class", "objects", "phrases", "seed"]
    parameters = [f.name for f in pixel_fields()]
    run = ["model_id", "random_weights", "dtype", "device_type", *(environment or {})]
    files = ["path_64", "path_256", "time_base_s", "time_up_s", "saturated"]
    return list(dict.fromkeys([*identity, *parameters, *run, *files]))


def saturated(path: Path) -> bool:
    """Whether every value of the image is 0 or 255: what guidance far too strong (or a NaN along the way,
    which the final uint8 cast turns into 0) leaves of a sample. Its scores describe no picture."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    return bool(np.isin(pixels, (0, 255)).all())


def saturation_note(samples: pd.DataFrame) -> str | None:
    """One note for a run with saturated samples, else None."""
    count = int(samples["saturated"].sum()) if "saturated" in samples else 0
    if not count:
        return None
    return (
        f"{count} of {len(samples)} samples are saturated (every 64 px pixel at 0 or 255: guidance far too strong, "
        "or a NaN while sampling); column `saturated` marks them, and their scores describe no picture"
    )
