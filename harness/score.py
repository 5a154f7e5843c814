"""Score a run's samples and record the results: results.parquet, tables, summary.json, then W&B.

Also the command `python -m harness.score RUN_DIR`, which scores a run whose samples were made by shards.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.io import write_json, write_parquet
from harness.tracking import LoggerConfig, open_run

log = logging.getLogger(__name__)

RESULTS = "results.parquet"
SUMMARY = "summary.json"


def table_file(name: str) -> str:
    return "tables/" + name.replace("/", "__") + ".parquet"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def build_scorers(names: list[str], options: dict, *, cache_dir: Path, device: str) -> list:
    """The configured scorers (checked now, models loaded on first use); imported here, not at start-up."""
    if not names:
        return []
    from harness.scorers import build_scorers as build

    return build(names, options, cache_dir=cache_dir, device=device)


def score_samples(
    samples: pd.DataFrame, scorers: list
) -> tuple[pd.DataFrame, dict[str, float | None], dict[str, pd.DataFrame], list[str]]:
    """Every scorer's columns joined to the samples, and the run's metrics, tables and notes."""
    results = samples.copy()
    metrics: dict[str, float | None] = {}
    tables: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for scorer in scorers:
        log.info("scoring %d samples with %s", len(samples), scorer.name)
        result = scorer.score(samples)
        results = results.join(result.columns)
        metrics.update({name: _number(value) for name, value in result.metrics.items()})
        tables.update(result.tables)
        notes.extend(result.notes)
    for note in notes:
        log.info("note: %s", note)
    return results, metrics, tables, notes


def write_results(
    run_dir: Path,
    results: pd.DataFrame,
    metrics: dict[str, float | None],
    tables: dict[str, pd.DataFrame],
    notes: list[str],
    run_info: dict[str, Any],
) -> dict[str, Any]:
    """Write the run's files, tables first and summary.json last (its presence means the run is complete)."""
    for name, table in tables.items():
        write_parquet(run_dir / table_file(name), table)
    write_parquet(run_dir / RESULTS, results)
    summary = {
        "run": run_info,
        "metrics": metrics,
        "notes": notes,
        "tables": {name: table_file(name) for name in tables},
    }
    write_json(run_dir / SUMMARY, summary)
    return summary


def log_to_wandb(
    logger: LoggerConfig,
    run_dir: Path,
    results: pd.DataFrame,
    summary: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    *,
    group: str | None,
    tags: list[str],
) -> None:
    info = summary["run"]
    with open_run(
        logger,
        run_dir=run_dir,
        name=run_dir.name if not run_dir.name.isdigit() else f"{run_dir.parent.name}/{run_dir.name}",
        group=group,
        job_type="sample-and-score",
        config=info["config"],
        tags=tags,
    ) as tracker:
        tracker.log_results(results, summary["metrics"], tables)


def main(argv: list[str] | None = None) -> int:
    """Score a run dir whose samples are in the store (e.g. made by shards) with the run's own config."""
    import argparse
    import sys

    import yaml
    from omegaconf import OmegaConf

    from harness.job import Job
    from harness.schema import USAGE_ERRORS, ConfigError, RunConfig, error_line

    parser = argparse.ArgumentParser(prog="python -m harness.score", description=main.__doc__)
    parser.add_argument("run_dir", type=Path, help="a run dir written by python -m harness (holds .hydra/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    hydra_dir = args.run_dir / ".hydra"
    try:
        if not (hydra_dir / "config.yaml").is_file():
            raise ConfigError(f"{str(args.run_dir)!r} is not a run dir: it has no .hydra/config.yaml")
        cfg = OmegaConf.merge(OmegaConf.structured(RunConfig), OmegaConf.load(hydra_dir / "config.yaml"))
        cfg.runner.stage = "score"
        overrides = yaml.safe_load((hydra_dir / "overrides.yaml").read_text()) or []
        job = Job(cfg, run_dir=args.run_dir.resolve(), overrides=overrides, group=None)
        job.run()
    except USAGE_ERRORS as err:
        print(f"error: {error_line(err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
