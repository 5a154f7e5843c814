"""The command `python -m harness.cli.score RUN_DIR`: score a run whose samples were made by shards.

It reruns the run's own job (its .hydra config and overrides) with the score stage only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from omegaconf import OmegaConf

from harness.config.plugins import load_plugins
from harness.config.schema import saved_config
from harness.errors import USAGE_ERRORS, ConfigError, error_line
from harness.run.job import Job
from harness.run.rundir import HYDRA_CONFIG, RunDir


def score_run_dir(run_dir: Path, *, group: str | None = None) -> None:
    """Score a run dir's whole plan with its own saved config (UsageError when samples are missing)."""
    run = RunDir(run_dir)
    if not run.hydra_config_file.is_file():
        raise ConfigError(f"{str(run_dir)!r} is not a run dir: it has no {HYDRA_CONFIG}")
    load_plugins()
    cfg = saved_config(OmegaConf.load(run.hydra_config_file))
    cfg.runner.stage = "score"
    Job(cfg, run_dir=Path(run_dir).resolve(), overrides=run.hydra_overrides() or [], group=group).run()


def main(argv: list[str] | None = None) -> int:
    """Score a run dir whose samples are in the store (e.g. made by shards) with the run's own config."""
    parser = argparse.ArgumentParser(prog="python -m harness.cli.score", description=main.__doc__)
    parser.add_argument("run_dir", type=Path, help="a run dir written by python -m harness (holds .hydra/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    try:
        score_run_dir(args.run_dir)
    except USAGE_ERRORS as err:
        print(f"error: {error_line(err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
