"""The one composition of a job's config: Hydra's compose API over conf/ and experiments/, typed once.

Every reader of a command's config goes through here: the command's checks before Hydra starts a job, the
job itself, the design-power study and fetch. A composition and its typing are kept per process, keyed by the
overrides, so a job that the command's checks typed is not composed or typed again when it runs in the same
process; a launcher's worker process types the config Hydra hands it, once. (Hydra composes the command once
more for its own launch: the run dir, the saved .hydra files, the callbacks.)
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import hydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from harness.config.schema import RunConfig, ensure_registered, run_config_class
from harness.errors import USAGE_ERRORS, ConfigError, error_line
from harness.locations import CONF_DIR

_Key = tuple[str, ...]
_composed: dict[_Key, DictConfig] = {}
_jobs: dict[_Key, DictConfig] = {}
_typed: dict[_Key, RunConfig] = {}


def compose(overrides: Sequence[str]) -> DictConfig:
    """The config (with its `hydra` node) of `overrides`, composed once per process."""
    key = tuple(overrides)
    if key not in _composed:
        ensure_registered()  # the schemas and experiments the defaults lists name
        with hydra.initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            _composed[key] = hydra.compose("config", overrides=list(overrides), return_hydra_config=True)
    return _composed[key]


def job_config(overrides: Sequence[str]) -> DictConfig:
    """The composition of `overrides` without its `hydra` node: what the job's task function is given."""
    key = tuple(overrides)
    if key not in _jobs:
        job = compose(overrides).copy()
        with read_write(job), open_dict(job):
            del job["hydra"]
        _jobs[key] = job
    return _jobs[key]


def task_overrides(overrides: Sequence[str]) -> _Key:
    """The overrides that reach the job's config (Hydra's own `hydra.*` ones only change where and how it runs)."""
    return tuple(o for o in overrides if o.lstrip("+~").partition("=")[0].replace("/", ".").split(".")[0] != "hydra")


def typed_job(overrides: Sequence[str], composed: DictConfig | None = None) -> RunConfig:
    """The job's config typed (`OmegaConf.to_object` runs every node's value checks), once per process.

    `composed` is the config Hydra handed a job whose overrides this process has not typed yet (a launcher's
    worker). A bad value raises ConfigError with one line. Each caller gets its own copy."""
    key = task_overrides(overrides)
    if key not in _typed:
        try:
            _typed[key] = OmegaConf.to_object(composed if composed is not None else job_config(overrides))
        except OmegaConfBaseException as err:
            raise ConfigError(describe(err)) from err
    return copy.deepcopy(_typed[key])


def sweep_points(overrides: Sequence[str], multirun: bool) -> list[list[str]]:
    """Each job's overrides: one job, or the grid over the command line's sweeps and the config's
    `hydra.sweeper.params` (an experiment's own sweep), spelled as Hydra's basic sweeper hands them to jobs."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    sweeps = [o for o in parsed if o.is_sweep_override()]
    params = compose(first_values(parsed, overrides)).hydra.sweeper.params or {}
    if not multirun:
        if sweeps:
            raise ConfigError(f"{sweeps[0].input_line} is a sweep: run the command with -m")
        if params:
            swept = ", ".join(f"{key}={value}" for key, value in params.items())
            raise ConfigError(f"this config sweeps {swept}: run the command with -m")
        return [list(overrides)]
    grid = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()] + list(overrides))
    axes: dict[str, list[str]] = {}  # a key given twice sweeps as given last, in the place it first took
    for o in grid:
        key = o.get_key_element()
        values = o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()]
        axes[key] = [f"{key}={value}" for value in values]
    return [list(point) for point in itertools.product(*axes.values())]


def first_values(parsed: Sequence[Any], overrides: Sequence[str]) -> list[str]:
    """The overrides with each sweep replaced by its first value: a command line Hydra composes as one job."""
    return [f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}" if o.is_sweep_override() else text
            for o, text in zip(parsed, overrides, strict=True)]  # fmt: skip


def unknown_keys(node: DictConfig, path: str = "") -> str | None:
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
        if typed and (error := unknown_keys(child, f"{path}{key}.")):
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
        options = [o for o in err.options or [] if not o.endswith("_schema")]  # schemas are not choices
        available = f"; available: {', '.join(options)}" if options else ""
        return f"unknown {group or 'config'} {option!r}{available}"
    cause = err.__cause__ if isinstance(err, HydraException) and err.__cause__ is not None else err
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None)
        if type(cause).__name__ in ("ConfigAttributeError", "ConfigKeyError") and key:
            return f"{key}: unknown key{_allowed_keys(key)}"
        message = error_line(_without_details(cause))
        return f"{key}: {message}" if key and not message.startswith(key) else message
    return error_line(cause)


COMPOSITION_ERRORS = (HydraException, OmegaConfBaseException, *USAGE_ERRORS)


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
