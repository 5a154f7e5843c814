"""Check a command's every job before Hydra starts it: each sweep point composed and typed, as its job will be.

A wrong type, an unknown key, an unknown group option or a bad value in any point stops the command with one
line before any directory exists; Hydra's own multi-line composition errors never reach the user.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from harness.config.schema import pixel_fields, run_config_class
from harness.config.suites import load_suite
from harness.errors import USAGE_ERRORS, ConfigError, error_line
from harness.run.outdirs import creatable_error
from harness.scorers import SCORERS, check_scorer_names
from harness.scorers.configs import slug

if TYPE_CHECKING:
    from harness.analysis.findings import DesignFloor

# Flags after which Hydra does something other than run jobs (help, printing the config, shell completion).
_OTHER_MODES = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc")
_MULTIRUN = ("-m", "--multirun")
# The inpainting pair a text-to-image model's name stands for when the suite inpaints: only that pair can run
# its prompts, so `+suite=inpaint model=tiny` means model=tiny_inpaint, with that preset's sampler settings.
INPAINTING_MODELS = {"glide": "glide_inpaint", "tiny": "tiny_inpaint"}


_Key = tuple[str, tuple[str, ...]]
_composed: dict[_Key, DictConfig] = {}
_jobs: dict[_Key, DictConfig] = {}
_typed: dict[_Key, Any] = {}
_suites_read: set[str] = set()  # the suite configs whose prompts have been read and checked


def _compose(conf_dir: Path, overrides: Sequence[str]) -> DictConfig:
    """The config (with its `hydra` node) of `overrides`, composed once per process: the inpainting check, the
    sweep's expansion and the job's own check all read the same composition of the same command line."""
    key = (str(conf_dir), tuple(overrides))
    if key not in _composed:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            _composed[key] = compose("config", overrides=list(overrides), return_hydra_config=True)
    return _composed[key]


def _job_config(conf_dir: Path, overrides: Sequence[str]) -> DictConfig:
    """The composition of `overrides` without its `hydra` node: what the job's task function is given."""
    key = (str(conf_dir), tuple(overrides))
    if key not in _jobs:
        job = _compose(conf_dir, overrides).copy()
        with read_write(job), open_dict(job):
            del job["hydra"]
        _jobs[key] = job
    return _jobs[key]


def _typed_job(conf_dir: Path, overrides: Sequence[str]) -> Any:
    """The job's config typed (`OmegaConf.to_object` runs every node's value checks), once per process."""
    key = (str(conf_dir), tuple(overrides))
    if key not in _typed:
        _typed[key] = OmegaConf.to_object(_job_config(conf_dir, overrides))
    return _typed[key]


def _command(argv: Sequence[str]) -> tuple[list[str], bool] | None:
    """The command line's overrides and whether it is a multirun; None where Hydra does something other than
    run jobs (help, printing the config, shell completion)."""
    if any(arg.split("=")[0] in _OTHER_MODES for arg in argv):
        return None
    return [arg for arg in argv if not arg.startswith("-")], any(arg in _MULTIRUN for arg in argv)


def _first_values(parsed: Sequence[Any], overrides: Sequence[str]) -> list[str]:
    """The overrides with each sweep replaced by its first value: a command line Hydra composes as one job."""
    return [f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}" if o.is_sweep_override() else text
            for o, text in zip(parsed, overrides, strict=True)]  # fmt: skip


def check_command(argv: Sequence[str], conf_dir: Path, suites: Sequence[str]) -> str | None:
    """The error line of the first bad job of `python -m harness ARGV`, or None when every job composes."""
    if (command := _command(argv)) is None:
        return None
    overrides, multirun = command
    try:
        configs = []
        for point in _job_overrides(conf_dir, overrides, multirun):
            error, cfg = _check_job(conf_dir, point, suites)
            if error:
                shown = " ".join(o for o in point if not o.lstrip("+~").startswith("hydra"))
                return f"{error} (sweep point: {shown})" if multirun else error
            configs.append(cfg)
    except (HydraException, OmegaConfBaseException, *USAGE_ERRORS) as err:
        return describe(err)
    return _fidelity_reference_error(configs)


def design_floors(argv: Sequence[str], conf_dir: Path) -> tuple[list[DesignFloor], bool]:
    """What each distinct finding of a command check_command passed can decide (findings.design_floor), and
    whether every job only plans (runner.stage=plan). Reads the jobs check_command composed and typed."""
    from harness.analysis.findings import design_floor  # after the checks: it imports pandas and SciPy

    if (command := _command(argv)) is None:
        return [], False
    points = _job_overrides(conf_dir, *command)
    configs = [_job_config(conf_dir, point) for point in points]
    plan_only = all(cfg.runner.stage == "plan" for cfg in configs)
    floors: dict[tuple[str, str], DesignFloor] = {}
    for point in points:
        rc = _typed_job(conf_dir, point)
        if rc.finding is None or rc.suite is None or rc.suite.path is not None:
            continue  # prompts read from a file are counted when the job loads them
        key = (rc.suite.name, json.dumps(dataclasses.asdict(rc.finding), sort_keys=True))
        if key not in floors:
            settings = len({str(_compared_value(cfg, rc.finding.compare)) for cfg in configs})
            floors[key] = design_floor(rc.finding, rc.suite.prompts, settings)
    return list(floors.values()), plan_only


def _compared_value(cfg: DictConfig, compare: str) -> Any:
    """The job's value of a finding's `compare`: a config key, or a sampler field by its manifest name."""
    value = OmegaConf.select(cfg, compare, default=_ABSENT)
    if value is _ABSENT and compare in {f.name for f in pixel_fields()}:
        value = OmegaConf.select(cfg, f"sampler.{compare}", default=_ABSENT)
    return value


def _fidelity_reference_error(configs: Sequence[DictConfig]) -> str | None:
    """A fidelity sweep's reference point must be one of its jobs: every point is measured against it."""
    reference = {}
    for cfg in configs:
        node = OmegaConf.select(cfg, "fidelity.reference", default=None)
        reference = (OmegaConf.to_container(node) if node is not None else {}) or reference
    if not reference:
        return None
    if any(all(str(OmegaConf.select(cfg, k)) == str(v) for k, v in reference.items()) for cfg in configs):
        return None
    wanted = " ".join(f"{k}={v}" for k, v in reference.items())
    return (
        f"fidelity.reference: no point of this sweep has the reference settings {wanted}; every point is compared "
        "with the reference's images, so the sweep must include it (or set fidelity.reference={} for no comparison)"
    )


def inpainting_model(argv: Sequence[str], conf_dir: Path) -> tuple[list[str], str | None]:
    """`argv` with `model=glide` / `model=tiny` (given or by default) swapped for its inpainting pair when the
    suite inpaints, so Hydra composes, saves and logs the model that runs; and a note saying so, else None."""
    argv = list(argv)
    if (command := _command(argv)) is None:
        return argv, None
    overrides = command[0]
    model_args = [i for i, arg in enumerate(argv) if arg.split("=")[0].lstrip("+~") == "model"]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        if any(o.is_sweep_override() for o in parsed if o.get_key_element().lstrip("+~") in ("model", "suite")):
            return argv, None  # each point then says which model it needs
        cfg = _compose(conf_dir, _first_values(parsed, overrides))
    except (HydraException, OmegaConfBaseException, *USAGE_ERRORS):
        return argv, None  # check_command reports it
    name = OmegaConf.select(cfg, "model.name", default=None)
    prompts = OmegaConf.select(cfg, "suite.prompts", default=None) or []
    inpaints = any(p.get("image") is not None or p.get("mask") is not None for p in prompts)
    if not inpaints or name not in INPAINTING_MODELS:
        return argv, None
    chosen = INPAINTING_MODELS[name]
    argv = [arg for i, arg in enumerate(argv) if i not in model_args] + [f"model={chosen}"]
    return argv, f"suite {cfg.suite.name!r} inpaints: model={name} runs as model={chosen}"


def _job_overrides(conf_dir: Path, overrides: list[str], multirun: bool) -> list[list[str]]:
    """Each job's overrides: one job, or the basic sweeper's grid over the command line and the config's
    `hydra.sweeper.params` (an experiment's own sweep)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    sweeps = [o for o in parsed if o.is_sweep_override()]
    params = _compose(conf_dir, _first_values(parsed, overrides)).hydra.sweeper.params or {}
    if not multirun:
        if sweeps:
            raise ConfigError(f"{sweeps[0].input_line} is a sweep: run the command with -m")
        if params:
            swept = ", ".join(f"{key}={value}" for key, value in params.items())
            raise ConfigError(f"this config sweeps {swept}: run the command with -m")
        return [overrides]
    grid = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()] + overrides)
    return BasicSweeper.split_arguments(grid, None)[0]


def _check_job(conf_dir: Path, overrides: list[str], suites: Sequence[str]) -> tuple[str | None, DictConfig | None]:
    """(the job's error line or None, its composed config)."""
    cfg = None
    try:
        cfg = _job_config(conf_dir, overrides)
        if cfg.get("suite") is None:
            return f"no suite given: add +suite=NAME, one of {', '.join(suites)}", cfg
        if unknown := _unknown_keys(cfg):
            return unknown, cfg
        rc = _typed_job(conf_dir, overrides)
        check_scorer_names(rc.scorers)
        if error := finding_error(rc, cfg) or creatable_error(Path(rc.store.cache_dir), "store.cache_dir"):
            return error, cfg
        if (suite := f"{Path.cwd()}|{rc.suite!r}") not in _suites_read:  # once per suite, not per sweep point
            load_suite(rc.suite)  # its prompt file and listed prompts (an inpainting prompt's pixels with torch)
            _suites_read.add(suite)
        probe_scorers(rc)
        return None, cfg
    except (HydraException, OmegaConfBaseException, *USAGE_ERRORS) as err:
        return describe(err), cfg


def probe_scorers(rc: Any) -> tuple[list[str], list[str]]:
    """The scorers to build, and notes. The bias probe runs only on a suite that names its probe (a taxonomy
    whose classes its control prompts name), whose taxonomy and class of interest it then takes; the guide's
    own CLIP score only where there is a guide (not in the toy world)."""
    names = list(rc.scorers)
    check_scorer_names(names)
    if "inpaint" in names and not any(p.image is not None or p.mask is not None for p in rc.suite.prompts):
        raise ConfigError(
            f"scorers: inpaint scores inpainting runs; suite {rc.suite.name!r} has no prompt with an image and mask"
        )
    notes = []
    if "guide_clip" in names and rc.model.toy:
        names.remove("guide_clip")
        notes.append("guide_clip: not run: the toy world renders its images without a guide CLIP (model=toy)")
    if "bias" not in names:
        return names, notes
    probe = rc.suite.probe
    if probe is None:
        names.remove("bias")
        return names, [*notes, f"bias: not run: suite {rc.suite.name!r} names no probe (suite.probe.taxonomy)"]
    rc.scorer.bias = dataclasses.replace(
        rc.scorer.bias, taxonomy=probe.taxonomy, class_of_interest=probe.class_of_interest
    )
    return names, notes


def finding_error(rc: Any, cfg: DictConfig) -> str | None:
    """A finding whose metric no scorer of the run writes, or whose `compare` names nothing the run varies or
    records, would run the whole study for "no verdict"; say so before any sampling."""
    finding = rc.finding
    if finding is None:
        return None
    for i, metric in enumerate(finding.metrics):
        key = "finding.metric" if i == 0 else "finding.also"
        if not any(SCORERS[name].writes(name, metric) for name in rc.scorers):
            return (
                f"{key}: {metric!r} is written by none of this run's scorers ({', '.join(rc.scorers) or 'none'}); "
                "a metric is a scorer's column (clip.score) or run metric (bias/interest_share)"
            )
        if error := _detect_name_error(key, metric, rc.suite):
            return error
    compare = finding.compare
    tags = {tag for prompt in rc.suite.prompts for tag in prompt.tags}
    pair_by = finding.pair_by
    if pair_by is not None and rc.suite.path is None and (not pair_by.startswith("tag.") or pair_by[4:] not in tags):
        return (
            f"finding.pair_by: {pair_by!r} is not a tag of suite {rc.suite.name!r} (tags: {_listed(tags)}); the "
            "paired units are a tag's values, e.g. tag.subject"
        )
    if compare.startswith("tag."):
        if rc.suite.path is None and compare[4:] not in tags:
            return f"finding.compare: {compare!r} is not a tag of suite {rc.suite.name!r} (tags: {_listed(tags)})"
        return None
    recorded = {f.name for f in pixel_fields()} | {"prompt_id", "seed", "model_id", "expected_class"}
    if compare.rsplit(".", 1)[-1] in recorded or OmegaConf.select(cfg, compare, default=_ABSENT) is not _ABSENT:
        return None
    return f"finding.compare: {compare!r} is neither a samples column (tag.NAME, {_listed(recorded)}) nor a config key"


_ABSENT = object()


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _detect_name_error(key: str, metric: str, suite: Any) -> str | None:
    """detect.coverage.X / detect.score.X / detect.present.X name a phrase or object of the suite's prompts."""
    kind, _, name = metric.removeprefix("detect.").partition(".")
    if not metric.startswith("detect.") or kind not in ("coverage", "score", "present") or suite.path is not None:
        return None
    lists = [p.phrases if kind == "coverage" else p.objects for p in suite.prompts]
    names = {slug(item) for items in lists for item in items or ()}
    if name in names:
        return None
    what = "phrases" if kind == "coverage" else "objects"
    return f"{key}: {metric!r} names no {what[:-1]} of suite {suite.name!r} (its {what}: {_listed(names)})"


def _unknown_keys(node: DictConfig, path: str = "") -> str | None:
    """The first key Hydra let in that the node's dataclass lacks: a `+key=value` append on a typed node."""
    node_type = OmegaConf.get_type(node)
    if dataclasses.is_dataclass(node_type):
        allowed = [f.name for f in dataclasses.fields(node_type)]
        for key in node:
            if key not in allowed:
                return f"{path}{key}: unknown key; allowed: {', '.join(allowed)}"
    children = [(key, node._get_node(key)) for key in node]
    for key, child in children:
        typed = isinstance(child, DictConfig) and not child._is_none() and not child._is_missing()
        if typed and (error := _unknown_keys(child, f"{path}{key}.")):
            return error
    return None


def describe(err: BaseException) -> str:
    """One line for a composition or value error: the key, the value and what is allowed."""
    if isinstance(err, OverrideParseException):
        return (
            f"cannot parse the override {err.override!r}: a value with spaces or any of <>()[]{{}},=:'\" must be "
            "quoted, e.g. 'key=\"a value\"' (Hydra's override grammar)"
        )
    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, option = err.missing_cfg_file.rpartition("/")
        available = f"; available: {', '.join(err.options)}" if err.options else ""
        return f"unknown {group or 'config'} {option!r}{available}"
    cause = err.__cause__ if isinstance(err, HydraException) and err.__cause__ is not None else err
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None)
        if type(cause).__name__ in ("ConfigAttributeError", "ConfigKeyError") and key:
            return f"{key}: unknown key{_allowed_keys(key)}"
        message = error_line(_without_details(cause))
        return f"{key}: {message}" if key and not message.startswith(key) else message
    return error_line(cause)


def _without_details(err: OmegaConfBaseException) -> str:
    # OmegaConf appends "full_key: ... object_type=..." lines; the first line is the message.
    return str(err).split("\n    full_key:")[0]


def _allowed_keys(full_key: str) -> str:
    """'; allowed: ...' for a dotted key below a typed node of RunConfig, else ''."""
    node_type: type | None = run_config_class()
    for part in full_key.split(".")[:-1]:
        fields = {f.name: f for f in dataclasses.fields(node_type)} if dataclasses.is_dataclass(node_type) else {}
        if part not in fields:
            return ""
        node_type = _dataclass_of(fields[part])
    if not dataclasses.is_dataclass(node_type):
        return ""
    return f"; allowed: {', '.join(f.name for f in dataclasses.fields(node_type))}"


def _dataclass_of(f: dataclasses.Field) -> type | None:
    factory = f.default_factory if f.default_factory is not dataclasses.MISSING else None
    value = factory() if factory is not None else f.default
    return type(value) if dataclasses.is_dataclass(value) else None
