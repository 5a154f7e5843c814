"""The command line: python -m harness +suite=NAME [key=value ...], or -m for a sweep (Hydra multirun).

A bad value ends the job with one `error:` line and exit code 2, and removes the job's output dir when it
holds nothing but Hydra's own files.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from harness.glide.checkpoints import CheckpointError
from harness.schema import ConfigError, register

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
USAGE_ERRORS = (ConfigError, CheckpointError, OmegaConfBaseException, ValueError)

log = logging.getLogger("harness")


def available_suites() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "suite").glob("*.yaml"))


def check_group_choices(argv: list[str]) -> str | None:
    """The error for `+suite=NAME` / `+experiment=NAME` naming no such file, before Hydra composes anything."""
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key not in ("suite", "experiment") or not value or "," in value:
            continue
        choices = sorted(p.stem for p in (CONF_DIR / key).glob("*.yaml"))
        if value not in choices:
            return f"unknown {key} {value!r}; available: {', '.join(choices)}"
    return None


def check_output_dir(path: Path, what: str) -> str | None:
    """Whether `path` can be created: its nearest existing ancestor must be a writable directory."""
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    try:  # a probe directory, removed at once: permission bits alone mislead root and special filesystems
        os.rmdir(tempfile.mkdtemp(dir=ancestor, prefix=".write-check-"))
    except OSError as err:
        return f"{what}: {str(path)!r} cannot be created in {ancestor} ({err.strerror or err})"
    return None


class OutputDirCheck(Callback):
    """Refuses an output dir that cannot be written before Hydra creates it (conf/config.yaml callbacks)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(config.hydra.run.dir), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(config.hydra.sweep.dir), "hydra.sweep.dir")

    def _check(self, path: Path, what: str) -> None:
        error = check_output_dir(path, what)
        if error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)


def _remove_if_only_hydra_files(run_dir: Path) -> None:
    """Undo what Hydra wrote for a job that did not start: its .hydra/ and log file, then empty parents."""
    if not run_dir.is_dir():
        return
    if all(p.name == ".hydra" or p.suffix == ".log" for p in run_dir.iterdir()):
        shutil.rmtree(run_dir)
        parent = run_dir.parent
        if parent.is_dir() and all(p.name == "multirun.yaml" for p in parent.iterdir()):
            shutil.rmtree(parent)


def _fail(message: str, run_dir: Path) -> None:
    logging.shutdown()
    _remove_if_only_hydra_files(run_dir)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from harness.job import Job

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if cfg.get("suite") is None:
        _fail(f"no suite given: add +suite=NAME, one of {', '.join(available_suites())}", run_dir)
    multirun = hydra_cfg.mode.name == "MULTIRUN"
    group = Path(hydra_cfg.sweep.dir).name if multirun else None
    try:
        job_num = hydra_cfg.job.num if multirun else None
        job = Job(cfg, run_dir=run_dir, overrides=list(hydra_cfg.overrides.task), group=group, job_num=job_num)
    except USAGE_ERRORS as err:
        _fail(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__, run_dir)
    try:
        job.run()
    except (ConfigError, CheckpointError) as err:
        _fail(str(err), run_dir)


register()

if __name__ == "__main__":
    if error := check_group_choices(sys.argv[1:]):
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    main()
