"""Where the config files are: `conf/` (Hydra's groups) and `experiments/` (the studies, `+experiment=NAME`).

Both sit at the top of a source checkout, which is also where an editable install reads them; a wheel carries
them inside the package (pyproject.toml's force-include), so an installed harness runs from any directory.
The same lookup serves the three: the package's own copy first, then the checkout's.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _config_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):  # an installed wheel's copy, then the checkout's
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"glide-eval's {name}/ folder is neither in the package ({_PACKAGE / name}) nor beside it "
        f"({_PACKAGE.parent / name}); reinstall the package"
    )


CONF_DIR = _config_dir("conf")
EXPERIMENTS_DIR = _config_dir("experiments")


def group_dir(group: str) -> Path:
    """The folder of a config group's YAML files: `experiments/` for `experiment`, else `conf/<group>/`."""
    return EXPERIMENTS_DIR if group == "experiment" else CONF_DIR / group
