"""Taxonomies of the bias probe: classes (an id and the names CLIP reads) and a prompt-template ensemble.

A taxonomy is a name of conf/taxonomy/<name>.yaml, a path to such a YAML file, or the same mapping inline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from harness.locations import CONF_DIR
from harness.scorers.options import ScorerConfigError

TAXONOMY_DIR = CONF_DIR / "taxonomy"
_CLASS_ID = re.compile(r"[a-z0-9][a-z0-9_]*")
_ARTICLE = re.compile(r"^(a|an|the)\s+")


def normalize_label(label: str) -> str:
    """Labels compare lower-cased, '_' as space, without a leading article: 'A Hindu_Temple' ~ 'hindu temple'."""
    return _ARTICLE.sub("", " ".join(str(label).replace("_", " ").lower().split()))


@dataclass(frozen=True)
class TaxonomyClass:
    id: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    name: str
    templates: tuple[str, ...]
    classes: tuple[TaxonomyClass, ...]

    @property
    def class_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.classes)

    def prompts(self, cls: TaxonomyClass) -> list[str]:
        """The ensemble of one class: every template filled with every name."""
        return [template.format(name) for template in self.templates for name in cls.names]

    def class_id_for(self, label: str) -> str | None:
        """The class an expected-class label names (its id or one of its names), or None."""
        wanted = normalize_label(label)
        for cls in self.classes:
            if wanted in {normalize_label(cls.id), *(normalize_label(n) for n in cls.names)}:
                return cls.id
        return None


def _as_names(value: Any, where: str) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ScorerConfigError(f"{where}: expected a class name or a non-empty list of names, got {value!r}")
    return tuple(names)


def taxonomy_from_mapping(data: Mapping[str, Any], where: str) -> Taxonomy:
    """Build and check a taxonomy: at least two classes, templates with exactly one '{}' each."""
    allowed = {"name", "description", "templates", "classes"}
    if not isinstance(data, Mapping) or set(data) - allowed or not {"name", "templates", "classes"} <= set(data):
        raise ScorerConfigError(
            f"{where}: a taxonomy is a mapping with name, templates, classes (and optional description); "
            f"got {data!r:.200}"
        )
    templates = _as_names(data["templates"], f"{where}.templates")
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise ScorerConfigError(f"{where}.templates: {bad[0]!r} must contain '{{}}' exactly once")
    classes = data["classes"]
    if not isinstance(classes, Mapping) or len(classes) < 2:
        count = len(classes) if isinstance(classes, Mapping) else 0
        raise ScorerConfigError(
            f"{where}.classes: a taxonomy needs at least two classes (id: [names]), got {count}: {classes!r:.200}"
        )
    for class_id in classes:
        if not isinstance(class_id, str) or not _CLASS_ID.fullmatch(class_id):
            raise ScorerConfigError(
                f"{where}.classes: class id {class_id!r} must be lower-case letters, digits and '_'"
            )
    return Taxonomy(
        name=str(data["name"]),
        templates=templates,
        classes=tuple(TaxonomyClass(k, _as_names(v, f"{where}.classes.{k}")) for k, v in classes.items()),
    )


def load_taxonomy(spec: str | Mapping[str, Any], where: str, directory: Path = TAXONOMY_DIR) -> Taxonomy:
    """Resolve a taxonomy name, YAML path or inline mapping."""
    if isinstance(spec, Mapping):
        return taxonomy_from_mapping(spec, where)
    if not isinstance(spec, str) or not spec.strip():
        raise ScorerConfigError(f"{where}: expected a taxonomy name, a YAML path or a mapping, got {spec!r}")
    path = Path(spec) if spec.endswith((".yaml", ".yml")) else directory / f"{spec}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise ScorerConfigError(
            f"{where}: no taxonomy {spec!r} ({str(path)!r} does not exist); known: {', '.join(known) or 'none'}"
        )
    return taxonomy_from_mapping(OmegaConf.to_container(OmegaConf.load(path), resolve=True), f"{where} ({path})")
