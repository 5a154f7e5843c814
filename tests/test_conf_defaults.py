"""Each default is stated once, in the dataclass that types its node: a file under conf/ sets only what differs,
and every scorer file is one that a composition loads."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.config.compose import compose
from harness.config.schema import run_config_class
from harness.tracking import TRACKERS

CONF = Path(__file__).resolve().parents[1] / "conf"
# Points of a grid: each file states its coordinates whole, so the point is the same whatever composed before it.
GRID_GROUPS = ("fidelity_base", "fidelity_upsample", "guidance_point")
# Not typed by the harness's dataclasses: Hydra's launcher plugins, and taxonomies (harness/scorers/taxonomy.py).
UNTYPED_GROUPS = ("hydra", "taxonomy")
# The toy world's table: a plain mapping in ModelSpec (harness/glide knows nothing of the toy world), typed by
# harness/toy/world.py's World where it is read. conf/model/toy.yaml lists the whole table so that
# model.world.KEY=VALUE overrides an entry (Hydra refuses a key a mapping lacks); test_toy_world checks that the
# listed table is World's defaults.
LISTED_FOR_OVERRIDES = ("model.world",)
NO_DEFAULT = object()


def checked_files() -> list[Path]:
    skipped = (*GRID_GROUPS, *UNTYPED_GROUPS)
    return sorted(p for p in CONF.rglob("*.yaml") if p.relative_to(CONF).parts[0] not in skipped)


def package(path: Path) -> str:
    """Where a file's keys land: its `# @package` header, else its group (a scorer file: scorer.<its name>)."""
    for line in path.read_text().splitlines():
        if line.startswith("# @package"):
            name = line.split()[-1]
            return "" if name == "_global_" else name
    group = path.relative_to(CONF).parent.as_posix()
    if group == "scorer":
        return f"scorer.{path.stem}"
    return "" if group == "." else group.replace("/", ".")


def root_defaults() -> Any:
    return run_config_class()()


def node_at(key: str, content: Mapping) -> tuple[type, Any]:
    """The dataclass typing the node at dotted `key` of the run's config, and an instance holding its defaults
    (None where the node's default is null: its class's defaults apply)."""
    if key == "logger":
        schema = TRACKERS[content.get("tracker", "wandb")][0]
        return schema, schema()
    cls, value = run_config_class(), root_defaults()
    for part in filter(None, key.split(".")):
        cls = dataclass_in(typing.get_type_hints(cls)[part]) or type(getattr(value, part))
        value = getattr(value, part) if value is not None else None
    return cls, value


def dataclass_in(hint: Any) -> type | None:
    """The dataclass a field's type names (`X`, `X | None`), else None."""
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next((arg for arg in typing.get_args(hint) if dataclasses.is_dataclass(arg)), None)
    return None


def item_dataclass(hint: Any) -> type | None:
    """The dataclass of a list field's items (`list[X]`), else None."""
    if typing.get_origin(hint) is list:
        (arg,) = typing.get_args(hint)
        return arg if dataclasses.is_dataclass(arg) else None
    return None


def equal(value: Any, default: Any) -> bool:
    """A YAML value equals a field's default (an enum by its name, a tuple as a list, a bool only a bool)."""
    if isinstance(default, enum.Enum):
        default = default.name
    elif isinstance(default, tuple):
        default = list(default)
    return isinstance(value, bool) == isinstance(default, bool) and value == default


def restated(content: Mapping, cls: type, defaults: Any, path: str) -> Iterator[str]:
    """Each key of `content` whose value is the default of its field in `cls` (`defaults`: an instance of `cls`
    whose values are the defaults, or None for the class's own)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in content:
            continue
        key, value = f"{path}{f.name}", content[f.name]
        if defaults is not None:
            default = getattr(defaults, f.name)
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = NO_DEFAULT
        nested = dataclass_in(hints[f.name])
        if key in LISTED_FOR_OVERRIDES:
            continue
        if nested is not None and isinstance(value, Mapping):
            inner = default if dataclasses.is_dataclass(default) else None
            yield from restated(value, nested, inner, f"{key}.")
        elif (items := item_dataclass(hints[f.name])) is not None and isinstance(value, list):
            for index, item in enumerate(value):
                yield from restated(item, items, None, f"{key}[{index}].")
        elif default is not NO_DEFAULT and equal(value, default):
            yield f"{key}: {value!r}"


@pytest.mark.parametrize("path", checked_files(), ids=lambda p: str(p.relative_to(CONF)))
def test_no_config_file_restates_a_dataclass_default(path):
    content = {k: v for k, v in (yaml.safe_load(path.read_text()) or {}).items() if k not in ("defaults", "hydra")}
    where = package(path)
    cls, defaults = node_at(where, content)
    assert list(restated(content, cls, defaults, f"{where}." if where else "")) == []


def test_the_walk_finds_a_restated_default_at_any_depth():
    # the check itself: a default two levels down is found, a value that differs is not
    content = {"sampler": {"guidance_scale": 3.0, "base_steps": "20"}, "scorer": {"fid": {"cmmd": {"sigma": 10.0}}}}
    found = list(restated(content, run_config_class(), root_defaults(), ""))
    assert found == ["sampler.guidance_scale: 3.0", "scorer.fid.cmmd.sigma: 10.0"]


def loaded_scorer_files(overrides: list[str]) -> set[str]:
    """The conf/scorer options a composition chose (Hydra records each group's choice)."""
    choices = compose(overrides).hydra.runtime.choices
    return {option for group, option in choices.items() if group.split("@")[0] == "scorer" and option}


def test_every_scorer_file_is_loaded_by_the_config_or_a_model_preset():
    presets = [[]] + [[f"model={p.stem}"] for p in sorted((CONF / "model").glob("*.yaml"))]
    loaded = set().union(*(loaded_scorer_files(overrides) for overrides in presets))
    assert {p.stem for p in (CONF / "scorer").glob("*.yaml")} <= loaded
