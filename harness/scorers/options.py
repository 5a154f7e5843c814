"""Validation of scorer options: one plain mapping per scorer in, frozen typed values out.

Every error names the dotted key (`scorer.fid.kid_subset_size`), the bad value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError


class ScorerConfigError(ConfigError):
    """A scorer option has a value that is not allowed; the message is one line naming key and value."""


def check_keys(cfg: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    """Reject unknown and missing keys: every option has its default in conf/scorer/*.yaml."""
    if not isinstance(cfg, Mapping):
        raise ScorerConfigError(f"{where}: expected a mapping of options, got {cfg!r}")
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ScorerConfigError(f"{where}: unknown option {unknown[0]!r}; allowed: {', '.join(allowed)}")
    missing = [key for key in allowed if key not in cfg]
    if missing:
        raise ScorerConfigError(f"{where}: missing option {missing[0]!r} (every option is set in conf/scorer/)")


def integer(cfg: Mapping[str, Any], key: str, where: str, *, minimum: int) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScorerConfigError(f"{where}.{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def optional_integer(cfg: Mapping[str, Any], key: str, where: str, *, minimum: int) -> int | None:
    return None if cfg[key] is None else integer(cfg, key, where, minimum=minimum)


def positive_number(cfg: Mapping[str, Any], key: str, where: str) -> float:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ScorerConfigError(f"{where}.{key}: expected a number > 0, got {value!r}")
    return float(value)


def text(cfg: Mapping[str, Any], key: str, where: str) -> str:
    value = cfg[key]
    if not isinstance(value, str) or not value.strip():
        raise ScorerConfigError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def optional_text(cfg: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if cfg[key] is None else text(cfg, key, where)


def text_list(cfg: Mapping[str, Any], key: str, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    value = cfg[key]
    if isinstance(value, str) or not isinstance(value, Sequence) or not (value or allow_empty):
        kind = "a list" if allow_empty else "a non-empty list"
        raise ScorerConfigError(f"{where}.{key}: expected {kind} of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ScorerConfigError(f"{where}.{key}: expected a list of non-empty strings, got item {item!r}")
    return tuple(value)


@dataclass(frozen=True)
class BootstrapOptions:
    """Percentile bootstrap: `resamples` draws with replacement from a generator seeded with `seed`."""

    resamples: int
    seed: int
    level: float

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any], where: str) -> BootstrapOptions:
        check_keys(cfg, ("resamples", "seed", "level"), where)
        level = cfg["level"]
        if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
            raise ScorerConfigError(f"{where}.level: expected a number in (0, 1), e.g. 0.95; got {level!r}")
        return cls(
            resamples=integer(cfg, "resamples", where, minimum=1),
            seed=integer(cfg, "seed", where, minimum=0),
            level=float(level),
        )
