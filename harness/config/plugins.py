"""Plugins: installed distributions' `glide_eval.plugins` entry points and the modules named in $GLIDE_EVAL_PLUGINS,
imported before the config is typed.

A plugin registers its own scorers, sampling loops, guidance or trackers at import, without editing the harness.
"""

from __future__ import annotations

import functools
import importlib
import os
from importlib.metadata import EntryPoint, entry_points

from harness.errors import ConfigError

PLUGINS_VARIABLE = "GLIDE_EVAL_PLUGINS"
ENTRY_POINT_GROUP = "glide_eval.plugins"


def load_plugins() -> list[str]:
    """Import every installed plugin (entry point group `glide_eval.plugins`), then every module named in
    $GLIDE_EVAL_PLUGINS; returns the modules' names (importing twice is free)."""
    return [*_load_entry_points(), *_load_variable()]


@functools.cache  # the installed distributions are read once per process
def _load_entry_points() -> tuple[str, ...]:
    return tuple(_import_entry_point(point) for point in entry_points(group=ENTRY_POINT_GROUP))


def _import_entry_point(point: EntryPoint) -> str:
    """The entry point's module, imported (its value names the module; an `:attr` part is not read)."""
    try:
        importlib.import_module(point.module)
    except ImportError as err:
        where = f" of {point.dist.name}" if point.dist is not None else ""
        raise ConfigError(
            f"entry point {point.name!r}{where} ({ENTRY_POINT_GROUP} = {point.value!r}): its module cannot be "
            f"imported ({str(err).splitlines()[0]}); reinstall or uninstall that plugin"
        ) from None
    return point.module


def _load_variable() -> list[str]:
    names = [name.strip() for name in os.environ.get(PLUGINS_VARIABLE, "").split(",") if name.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name.split(".")[0] and err.name != name:
                raise
            raise ConfigError(f"{PLUGINS_VARIABLE}: plugin module {name!r} not found on the Python path") from None
    return names
