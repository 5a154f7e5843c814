"""The command line behind `python -m harness +suite=NAME [key=value ...]`, or -m for a sweep (Hydra multirun).

A bad value ends the job with one `error:` line and exit code 2, and removes what Hydra created for the job
(never a directory that existed before the command).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.cli.preflight import check_command, command_points, mode_model, plan_only
from harness.cli.usage import check_group_choices, group_choices
from harness.config.plugins import load_plugins
from harness.config.schema import register
from harness.errors import USAGE_ERRORS, error_line
from harness.locations import CONF_DIR
from harness.run.outdirs import creatable_error, record_new_dirs, remove_new_dirs


class OutputDirCheck(Callback):
    """Refuses an output dir that cannot be written before Hydra creates it (conf/config.yaml callbacks)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(config.hydra.run.dir), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(config.hydra.sweep.dir), "hydra.sweep.dir")

    def _check(self, path: Path, what: str) -> None:
        error = creatable_error(path, what)
        if error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        record_new_dirs(path)


class SweepSummary(Callback):
    """At a sweep's end: its shards' unions scored, then the summary, comparisons, findings and report
    (conf/config.yaml callbacks). Hydra builds its callbacks for every command, so the analysis modules load
    only when a sweep ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        from omegaconf import OmegaConf

        from harness.cli.sweep_end import finish_sweep

        group = config.get("experiment") or sweep_dir.name
        logger_cfg = OmegaConf.to_object(config.logger) if "logger" in config else None
        finish_sweep(sweep_dir, logger_cfg, group)


INTERRUPTED = "interrupted; rerun the same command to resume"
INTERRUPTED_EXIT = 128 + 2  # the shell's code for a process ended by SIGINT


def interrupted() -> None:
    """Ctrl-C: one line and exit 130. The store holds only whole files (atomic writes), so a rerun resumes."""
    logging.shutdown()
    print(INTERRUPTED, file=sys.stderr)
    sys.exit(INTERRUPTED_EXIT)


def _fail(message: str, run_dir: Path) -> None:
    logging.shutdown()
    remove_new_dirs(run_dir)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if cfg.get("suite") is None:
        _fail(f"no suite given: add +suite=NAME, one of {', '.join(group_choices('suite'))}", run_dir)
    from harness.run.job import Job  # after the cheap checks: it imports the runner, scoring and W&B modules

    multirun = hydra_cfg.mode.name == "MULTIRUN"
    group = Path(hydra_cfg.sweep.dir).name if multirun else None
    try:
        job_num = hydra_cfg.job.num if multirun else None
        job = Job(cfg, run_dir=run_dir, overrides=list(hydra_cfg.overrides.task), group=group, job_num=job_num)
        job.run()
    except USAGE_ERRORS as err:
        _fail(error_line(err), run_dir)
    except Exception as err:
        # Not something the user can fix: say so in one line, then let Hydra print the traceback.
        print(f"error: unexpected {type(err).__name__} (a bug in glide-eval); the traceback follows", file=sys.stderr)
        raise


try:  # before the config is typed: plugins may register scorers, loops and guidance
    load_plugins()
except USAGE_ERRORS as err:
    print(f"error: {error_line(err)}", file=sys.stderr)
    sys.exit(2)
register()


def run(argv: list[str]) -> None:
    """Check the command line, then hand it to Hydra (which reads sys.argv)."""
    if error := check_group_choices(argv):
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    argv, note = mode_model(argv)
    if note:
        print(f"note: {note}", file=sys.stderr)
    sys.argv[1:] = argv  # Hydra reads the command line from sys.argv
    if error := check_command(argv, group_choices("suite")):
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    from harness.analysis.findings import design_floors  # after the checks: it imports pandas and SciPy

    points = command_points(argv) or []
    floors = design_floors(points)
    if points and plan_only(points):  # runner.stage=plan: the checked command's design, and nothing run
        for floor in floors:
            print(f"design: {floor.line()}")
        print("plan: the command is valid; nothing was sampled (runner.stage=plan)")
        return
    for floor in floors:
        if not floor.can_decide:
            print(f"warning: {floor.line()}", file=sys.stderr)
    try:
        main()
    except KeyboardInterrupt:
        interrupted()
    from harness.run.rundir import named_unfinished

    if unfinished := named_unfinished():  # a launcher that waits for every job lets the sweep's end name them
        jobs = f"{len(unfinished)} job{'s' if len(unfinished) > 1 else ''}"
        print(f"error: {jobs} of the sweep did not finish (named above); rerun the same command", file=sys.stderr)
        sys.exit(1)
