"""Trackers: where a run's results are mirrored for review. W&B is the built-in one; plugins add others.

`logger.tracker` names the entry of TRACKERS that opens a run; each tracker's config is the `logger` node,
typed by the schema `logger/<name>_schema` that register_tracker stores (conf/logger/NAME.yaml names it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.config_store import ConfigStore

from harness.errors import ConfigError
from harness.io import write_json
from harness.tracking.tracker import LineChart, Tracker, flatten_config
from harness.tracking.wandb_tracker import WandbConfig, open_run

if TYPE_CHECKING:
    import pandas as pd

# name -> (config class, opener(cfg, *, run_dir, name, group, job_type, config, tags) -> Tracker)
TRACKERS: dict[str, tuple[type, Callable[..., Tracker]]] = {}

__all__ = [
    "TRACKED_FILE",
    "TRACKERS",
    "LineChart",
    "Tracker",
    "WandbConfig",
    "content_digest",
    "flatten_config",
    "logged_before",
    "open_tracker",
    "record_logged",
    "register_schemas",
    "register_tracker",
]
# A run dir's record of what its tracker run holds: a rerun whose results are the same logs nothing again, so
# resuming a killed sweep does not pile up tracker runs of the jobs that had finished.
TRACKED_FILE = ".tracked.json"


def register_tracker(name: str, config_class: type, opener: Callable[..., Tracker]) -> None:
    """Make a tracker available as `logger.tracker=name` (plugins call this at import, before the config is typed).

    `config_class` is a dataclass of the tracker's settings whose field `tracker` defaults to `name`; it is
    stored as the Hydra schema `logger/<name>_schema`. `opener(cfg, *, run_dir, name, group, job_type, config,
    tags)` returns a Tracker. A `logger=<name>` option is a node of Hydra's `logger` group: a conf/logger/NAME.yaml
    whose defaults list starts with `<name>_schema`, or the config class stored under that name in the ConfigStore.
    """
    fields = {f.name: f for f in dataclasses.fields(config_class)} if dataclasses.is_dataclass(config_class) else {}
    if "tracker" not in fields or fields["tracker"].default != name:
        raise TypeError(f"tracker {name!r}: its config must be a dataclass with the field `tracker: str = {name!r}`")
    TRACKERS[name] = (config_class, opener)
    ConfigStore.instance().store(group="logger", name=f"{name}_schema", node=config_class)


def register_schemas() -> None:
    """Each tracker's config class as the Hydra schema `logger/<name>_schema`, for conf/logger/*.yaml."""
    for name, (config_class, _) in TRACKERS.items():
        ConfigStore.instance().store(group="logger", name=f"{name}_schema", node=config_class)


register_tracker("wandb", WandbConfig, open_run)


def open_tracker(
    cfg: Any,
    *,
    run_dir: Path,
    name: str,
    group: str | None,
    job_type: str,
    config: dict[str, Any],
    tags: list[str],
) -> Tracker:
    """Open a run with the tracker that `cfg.tracker` names; trackers never raise for their own failures."""
    if cfg.tracker not in TRACKERS:
        raise ConfigError(f"logger.tracker: {cfg.tracker!r} is not one of {', '.join(TRACKERS)}")
    _, opener = TRACKERS[cfg.tracker]
    return opener(cfg, run_dir=run_dir, name=name, group=group, job_type=job_type, config=config, tags=tags)


def content_digest(metrics: Mapping[str, Any], *frames: pd.DataFrame) -> str:
    """A digest of what a tracker run would hold: the metrics and every table's values."""
    digest = hashlib.sha256(json.dumps(dict(metrics), sort_keys=True, default=str).encode())
    for frame in frames:
        digest.update(frame.to_csv(index=False).encode())
    return digest.hexdigest()


def logged_before(run_dir: Path, digest: str) -> bool:
    try:
        return json.loads((Path(run_dir) / TRACKED_FILE).read_text()).get("digest") == digest
    except (OSError, ValueError, AttributeError):
        return False


def record_logged(run_dir: Path, digest: str) -> None:
    write_json(Path(run_dir) / TRACKED_FILE, {"digest": digest})
