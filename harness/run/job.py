"""One Hydra job: config -> suite -> plan -> samples -> scores -> files and W&B.

Everything the user can get wrong is checked before the first sample; a job that stops early leaves only
complete files behind (the sample store and every file here are written atomically).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from harness.config.checks import probe_scorers
from harness.config.compose import typed_job
from harness.config.plugins import load_plugins
from harness.config.schema import RunConfig, parse_shard
from harness.config.suites import Suite, load_suite
from harness.errors import ConfigError, InputFileError, MissingWeightsError
from harness.generate.boundary import MODES, Generator, mode_of
from harness.generate.glide_generator import GlideGenerator
from harness.glide.guidance import get_guidance
from harness.glide.models import ModelSpec, load_pipeline, resolve_official_checkpoints, resolve_threads
from harness.glide.pipeline import resolve_device
from harness.glide.presets import preset
from harness.run.environment import sampling_environment
from harness.run.evaluate import log_to_tracker, score_samples
from harness.run.outdirs import creatable_error
from harness.run.plan import SampleSpec, Sampling, make_plan, sampling_of, shard
from harness.run.rundir import write_manifest, write_results
from harness.run.runner import manifest, missing_keys, sample_missing, saturation_note
from harness.run.sources import source_specs
from harness.run.store import SampleStore
from harness.scorers import build_scorers
from harness.scorers.weights import missing, unreadable
from harness.toy.generator import ToyGenerator
from harness.toy.world import World
from harness.tracking import flatten_config

log = logging.getLogger(__name__)


def needs_guide(sampling: Sampling) -> bool:
    """Whether `sampling`'s guidance differentiates a guide model (CLIP guidance loads the noised CLIP)."""
    return get_guidance(sampling.params.guidance).needs_guide


def check_writable(path: Path, what: str) -> None:
    if error := creatable_error(path, what):
        raise ConfigError(error)


def job_device(requested: str, job_num: int | None) -> torch.device:
    """The sampling device; in a multirun, `auto` spreads jobs over the GPUs (job k on cuda:k mod #GPUs)."""
    device = resolve_device(requested)
    if requested == "auto" and device.type == "cuda" and job_num is not None:
        return torch.device("cuda", job_num % torch.cuda.device_count())
    return device


def resolve_sampling(rc: RunConfig, device: torch.device) -> Sampling:
    if rc.model.toy:  # rendered on the CPU in float32 wherever the run is; the world's table names the model
        world = World.from_options(rc.model.world)
        return Sampling.create(
            rc.sampler, model_id=world.model_id, device_type="cpu", dtype="fp32", per_sample=True, compiled=False
        )
    return sampling_of(rc.model, rc.sampler, device)


def run_info(cfg: DictConfig, rc: RunConfig, suite: Suite, sampling: Sampling, overrides: list[str]) -> dict[str, Any]:
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    container.pop("suite", None)  # the prompts are in the manifest
    return {
        "model_id": sampling.model_id,
        "random_weights": rc.model.random_weights,
        "suite": suite.name,
        "experiment": rc.experiment,
        "note": rc.note,
        "overrides": list(overrides),
        "device_type": sampling.device_type,
        "dtype": sampling.dtype,
        "config": flatten_config(container),
    }


def check_scorer_weights(scorers: list) -> None:
    """MissingWeightsError naming the first weight file a scorer needs that is not on this machine; then
    InputFileError naming the first cached one that cannot be read without running code."""
    for scorer in scorers:
        absent = missing(scorer.weights()) if hasattr(scorer, "weights") else []
        if absent:
            weight = absent[0]
            how = f"fetch it with: {weight.fetch}" if weight.fetch else "point the scorer's option at an existing file"
            more = f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""
            raise MissingWeightsError(
                f"scorer {scorer.name}: {weight.label} weights are not on this machine ({weight.source}){more}; {how}"
            )
    for scorer in scorers:
        for weight, problem in unreadable(scorer.weights()) if hasattr(scorer, "weights") else []:
            raise InputFileError(f"scorer {scorer.name}: {weight.label} weights: {problem}; delete it and fetch again")


class Job:
    """A validated job, ready to run; construction does all the checking and writes nothing."""

    def __init__(
        self, cfg: DictConfig, *, run_dir: Path, overrides: list[str], group: str | None, job_num: int | None = None
    ):
        load_plugins()  # launcher workers are fresh processes: their registries need the plugins too
        self.rc = rc = typed_job(overrides, cfg)  # typed once: the command's own check typed it in this process
        self.run_dir = run_dir
        self.multirun = job_num is not None
        self.suite = load_suite(rc.suite)
        mode_of(rc.model).check(self.suite.prompts, rc.model)
        self.device = str(job_device(rc.sampler.device, job_num))
        self.sampling = resolve_sampling(rc, torch.device(self.device))
        self.store = SampleStore(Path(rc.store.cache_dir))
        self.source_specs = source_specs(self.suite, rc, torch.device(self.device))
        self.plan: list[SampleSpec] | None = None
        self._resolve_sources()
        self.shard = parse_shard(rc.runner.shard)
        self.group = rc.experiment or group or self.suite.name
        widths = [preset(name).num_channels for name in (rc.model.base, rc.model.upsample)]
        self.torch_threads = resolve_threads(self.sampling.device_type, max(widths))
        self.environment = sampling_environment(
            torch.device(self.device), threads=self.torch_threads, dtype=self.sampling.dtype
        )
        self.info = {**run_info(cfg, rc, self.suite, self.sampling, overrides), "environment": self.environment}
        check_writable(self.store.root, "store.cache_dir")
        check_writable(run_dir, "output dir (hydra.run.dir / hydra.sweep.dir)")
        files_dir = getattr(rc.logger, "files_dir", None)
        if files_dir is not None and (tracker_dir := files_dir(run_dir)) is not None:
            check_writable(tracker_dir, "logger.dir (the tracker's files)")
        self.scorers = []
        names, self.scorer_notes = probe_scorers(rc)
        for note in self.scorer_notes:
            log.info("note: %s", note)
        if rc.runner.stage != "sample":
            self.scorers = build_scorers(
                names, rc.scorer, cache_dir=self.store.root, device=self.device, model=rc.model
            )
            check_scorer_weights(self.scorers)  # like the GLIDE checkpoints: refuse before any sampling
        if rc.runner.stage != "score":
            # No weights: fail now, before any sampling.
            if self.plan is None or missing_keys(shard(self.plan, *self.shard), self.store):
                resolve_official_checkpoints(rc.model, guide=needs_guide(self.sampling))
            if missing_keys(self.source_specs, self.store):
                source_model = rc.model.source.model(rc.model)
                resolve_official_checkpoints(source_model, guide=needs_guide(self.source_specs[0].sampling))

    def _resolve_sources(self) -> None:
        """The plan, once every generated source is in the store (until then its prompts' keys are unknown)."""
        if missing_keys(self.source_specs, self.store):
            return
        files = {
            s: self.store.path("upsample", spec.key)
            for s, spec in zip(self.suite.sources, self.source_specs, strict=True)
        }
        self.suite = self.suite.with_sources(files)
        sampler = self.rc.sampler
        self.plan = make_plan(
            self.suite, self.sampling, seed=sampler.seed, samples_per_prompt=sampler.samples_per_prompt
        )

    def _make_sources(self) -> dict[str, float]:
        """Sample the generated sources the store lacks, with the text-to-image pair; then plan the run."""
        stats = sample_missing(
            self.source_specs,
            self.store,
            self._generator_loader(self.rc.model.source.model(self.rc.model), self.source_specs[0].sampling),
            batch_size=self.rc.sampler.batch_size,
        )
        self._resolve_sources()
        return stats.as_dict()

    def run(self) -> dict[str, Any]:
        info = dict(self.info)
        if self.rc.runner.stage in ("all", "sample") and self.source_specs:
            info["sampling_sources"] = self._make_sources()
        if self.plan is None:
            raise ConfigError(
                f"the suite's {len(self.source_specs)} generated source image(s) are not all in the store "
                f"{self.store.root}; sample them first (runner.stage=all or sample)"
            )
        if self.rc.runner.stage in ("all", "sample"):
            specs = shard(self.plan, *self.shard)
            load = self._generator_loader(self.rc.model, self.sampling)
            stats = sample_missing(specs, self.store, load, batch_size=self.rc.sampler.batch_size)
            info["sampling"] = stats.as_dict()
            if self.rc.runner.stage == "sample":
                write_manifest(self.run_dir, self._manifest(specs))
                if self.shard[1] > 1:
                    log.info("shard %d/%d sampled; score the union with: python -m harness.cli.score PATH", *self.shard)
                else:
                    log.info("sampled; score it with: python -m harness.cli.score %s", self.run_dir)
                return info
            if self._union_waits():
                write_manifest(self.run_dir, self._manifest(specs))
                log.info(
                    "shard %d/%d sampled; the union of its %d shards will be scored when they finish (%s)",
                    *self.shard,
                    self.shard[1],
                    "at the end of the sweep" if self.multirun else f"or: python -m harness.cli.score {self.run_dir}",
                )
                return info
        self.score(info)
        return info

    def _union_waits(self) -> bool:
        """A shard's union is scored once: in a sweep by its end (harness.cli.sweep_end), else by the shard
        that finds its partners done."""
        return self.shard[1] > 1 and (self.multirun or bool(missing_keys(self.plan, self.store)))

    def score(self, info: dict[str, Any]) -> None:
        """Score the whole plan (every shard) and record it; `info` gains the scoring time."""
        missing = missing_keys(self.plan, self.store)
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise ConfigError(
                f"{len(missing)} of {len({s.key for s in self.plan})} samples are not in the store "
                f"{self.store.root} yet (missing keys: {shown}); run the remaining shards first"
            )
        start = time.perf_counter()
        samples = self._manifest(self.plan)
        write_manifest(self.run_dir, samples)
        results, metrics, tables, notes = score_samples(samples, self.scorers)
        if saturation := saturation_note(samples):
            log.warning("note: %s", saturation)
        notes = [*self.scorer_notes, *filter(None, [saturation]), *notes]
        info["scoring_s"] = time.perf_counter() - start
        summary = write_results(self.run_dir, results, metrics, tables, notes, info)
        tags = [f"suite:{self.suite.name}", f"model:{self.rc.model.name}"]
        if self.rc.model.random_weights:
            tags.append("random-weights")
        log_to_tracker(self.rc.logger, self.run_dir, results, summary, tables, group=self.group, tags=tags)
        log.info("run complete: %s", self.run_dir)

    def _manifest(self, specs: list[SampleSpec]):
        return manifest(
            specs,
            self.store,
            suite=self.suite.name,
            random_weights=self.rc.model.random_weights,
            environment=self.environment,
        )

    def _generator_loader(self, model: ModelSpec, sampling: Sampling) -> Callable[[], Generator]:
        """Loads `model`'s generator for `sampling` when called: GLIDE's pipeline (the guide too when its guidance
        needs one) in the model's mode, or the toy world's renderer (truth records beside the store)."""
        if model.toy:
            return lambda: ToyGenerator(World.from_options(model.world), self.store.root)

        def load() -> GlideGenerator:
            torch.set_num_threads(self.torch_threads)
            threads = self.torch_threads
            log.info("sampling with model=%s on %s with %d torch thread(s)", model.name, self.device, threads)
            pipeline = load_pipeline(
                model,
                device=self.device,
                dtype=sampling.dtype,
                per_sample=sampling.per_sample,
                compile=sampling.compiled,
                guide=needs_guide(sampling),
            )
            return GlideGenerator(pipeline, MODES[sampling.mode])

        return load
