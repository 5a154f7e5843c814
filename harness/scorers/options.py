"""Scorer options as typed dataclasses: a plain mapping in, one checked dataclass instance out.

OmegaConf checks types and unknown keys (as Hydra will from the ConfigStore); value checks live in each
class's __post_init__. Every error is one line naming the dotted key (`scorer.fid.kid_subset_size`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from harness.errors import ConfigError
from harness.scorers.weights import ALLOWED_WEIGHTS, folder_weights_problem

T = TypeVar("T")


class ScorerConfigError(ConfigError):
    """A scorer option has a value that is not allowed; the message is one line naming key and value."""


def build_config(cls: type[T], mapping: Mapping[str, Any] | None, where: str) -> T:
    """`cls` from a plain mapping: missing keys take the dataclass defaults, types are OmegaConf's checks."""
    _check_nodes(cls, mapping or {}, where)
    try:
        node = OmegaConf.merge(OmegaConf.structured(cls), dict(mapping or {}))
        return OmegaConf.to_object(node)
    except ConfigKeyError as err:
        node_path = f"{where}.{err.full_key}".rpartition(".")[0]
        key = str(err.key) if err.key is not None else err.full_key
        allowed = _field_names(cls, node_path.removeprefix(where).lstrip("."))
        raise ScorerConfigError(f"{node_path}: unknown option {key!r}; allowed: {', '.join(allowed)}") from None
    except OmegaConfBaseException as err:
        key = f"{where}.{err.full_key}" if err.full_key else where
        raise ScorerConfigError(f"{key}: {err.msg.splitlines()[0]}") from None


def _check_nodes(cls: type, mapping: Any, where: str) -> None:
    """A nested node given as a scalar names its key (OmegaConf's merge error names none)."""
    if not isinstance(mapping, Mapping):
        raise ScorerConfigError(f"{where}: expected a mapping of options, got {mapping!r}")
    for f in dataclasses.fields(cls):
        nested = f.default_factory
        if f.name in mapping and dataclasses.is_dataclass(nested):
            _check_nodes(nested, mapping[f.name], f"{where}.{f.name}")


def _field_names(cls: type, path: str) -> list[str]:
    """Field names of the (nested) dataclass at a dotted path below `cls`."""
    for part in filter(None, path.split(".")):
        cls = next((f.default_factory for f in dataclasses.fields(cls) if f.name == part), cls)
    return [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []


def require(condition: bool, key: str, allowed: str, value: Any) -> None:
    """Raise the one-line error `key: expected <allowed>, got <value>` unless `condition` holds."""
    if not condition:
        raise ScorerConfigError(f"{key}: expected {allowed}, got {value!r}")


@dataclasses.dataclass
class BootstrapOptions:
    """Interval of a mean over units (prompts): none below `min_n` units (never below 5, where no method covered
    0.93 in the coverage simulations); from there the hull of Student t and a studentized bootstrap (`resamples`,
    `seed`)."""

    resamples: int = 1000
    seed: int = 0
    level: float = 0.95
    min_n: int = 8

    def check(self, where: str) -> None:
        """Value checks, called by the owning config's __post_init__ so that errors name the full key."""
        require(self.resamples >= 1, f"{where}.resamples", "an integer >= 1", self.resamples)
        require(self.seed >= 0, f"{where}.seed", "an integer >= 0", self.seed)
        require(0 < self.level < 1, f"{where}.level", "a number in (0, 1), e.g. 0.95", self.level)
        require(self.min_n >= 2, f"{where}.min_n", "an integer >= 2", self.min_n)


# Value checks for the fields of scorer config dataclasses: each raises ScorerConfigError with one line naming
# the dotted key, the bad value and what is allowed.
# Stage name -> the samples column holding that stage's PNG.
STAGE_COLUMNS = {"64": "path_64", "256": "path_256"}


def check_integer(key: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScorerConfigError(f"{key}: expected an integer >= {minimum}, got {value!r}")


def check_fraction(key: str, value: object) -> None:
    """A number strictly between 0 and 1 (a threshold on a probability, a confidence level)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ScorerConfigError(f"{key}: expected a number in (0, 1), got {value!r}")


def check_source(key: str, value: object) -> None:
    """A hub model id or a local folder; a folder's weight files must read without running code."""
    if not isinstance(value, str) or not value.strip():
        raise ScorerConfigError(f"{key}: expected a hub model id or a local folder, got {value!r}")
    if problem := folder_weights_problem(value):
        raise ScorerConfigError(f"{key}: {problem}; a model folder's weights must be {ALLOWED_WEIGHTS}")


def check_stage(key: str, value: object) -> None:
    if value not in STAGE_COLUMNS:
        raise ScorerConfigError(f"{key}: expected one of {', '.join(STAGE_COLUMNS)}, got {value!r}")


def choice_list(key: str, value: object, choices: Sequence[str]) -> tuple[str, ...]:
    """A non-empty list of distinct members of `choices`, as a tuple (Hydra hands lists over as ListConfig)."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not value or any(v not in choices for v in value):
        raise ScorerConfigError(f"{key}: expected a non-empty list of {', '.join(choices)}, got {value!r}")
    if len(set(value)) != len(value):
        raise ScorerConfigError(f"{key}: {list(value)} names an entry twice")
    return tuple(value)
