"""The command `python -m harness.report PATH ...`: the HTML report of run dirs and sweeps, and optionally W&B's.

Bad input is one error line and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.analysis.study import StudyInputError, load_study
from harness.report.build import default_out, write_report
from harness.report.report_options import ReportOptions
from harness.report.wandb_report import WandbReportError, create_wandb_report, logger_setting, wandb_reports_module


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.report",
        description="Write an offline HTML report (image grids, metric plots, bias, run table).",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run dir(s) and/or multirun sweep dir(s)")
    parser.add_argument("-o", "--out", type=Path, help="HTML file to write (default: <first path>/report.html)")
    parser.add_argument("--thumb-size", type=int, default=ReportOptions.thumb_size, help="thumbnail size in px")
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also save a W&B report (needs `wandb login` and wandb-workspaces)",
    )
    parser.add_argument("--project", help="W&B project for --wandb (default: logger.project of the runs)")
    parser.add_argument("--entity", help="W&B entity for --wandb (default: logger.entity of the runs, or yours)")
    parser.add_argument("--group", help="W&B group whose runs the --wandb panels show (default: all runs)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build the report (and the W&B report with --wandb); one error line and exit 2 on bad input."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.wandb:
            wandb_reports_module()  # fail before the slow part when the W&B report cannot be made anyway
        options = ReportOptions(thumb_size=args.thumb_size)
        out = args.out.expanduser().resolve() if args.out else default_out(args.paths)
        study = load_study(args.paths)
        project = (args.project or logger_setting(study, "project")) if args.wandb else None
        if args.wandb and not project:
            raise StudyInputError("--wandb needs --project (the runs' config has no logger.project)")
        sys.stdout.write(f"{write_report(study, out, options, sources=args.paths)}\n")
        if project:
            entity = args.entity or logger_setting(study, "entity")
            sys.stdout.write(f"{create_wandb_report(study, project=project, entity=entity, group=args.group)}\n")
    except (StudyInputError, WandbReportError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
