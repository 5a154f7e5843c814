"""Plugins: modules named in $GLIDE_EVAL_PLUGINS (comma-separated), imported before the config is typed.

A plugin registers its own scorers, sampling loops or guidance at import, without editing the harness.
"""

from __future__ import annotations

import importlib
import os

from harness.errors import ConfigError

PLUGINS_VARIABLE = "GLIDE_EVAL_PLUGINS"


def load_plugins() -> list[str]:
    """Import every plugin module named in $GLIDE_EVAL_PLUGINS; returns their names (importing twice is free)."""
    names = [name.strip() for name in os.environ.get(PLUGINS_VARIABLE, "").split(",") if name.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name.split(".")[0] and err.name != name:
                raise
            raise ConfigError(f"{PLUGINS_VARIABLE}: plugin module {name!r} not found on the Python path") from None
    return names
