"""The inpainting view: per run, one row per sample of each prompt's first seeds: source | mask | 64 px | 256 px.

Reads the columns an inpainting run's manifest carries (path_source, path_mask) and the inpaint scorer's
columns; a study without inpainting runs has no such section.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.study import Study, run_settings
from harness.analysis.values import format_value
from harness.report.cells import SampleCells
from harness.report.plots import PlotFile
from harness.report.report_options import ReportOptions
from harness.report.views.view import View

INPUT_COLUMNS = ("path_source", "path_mask")
SEEDS_SHOWN = 2  # per prompt and run: the first seeds, so every prompt of a large run gets its rows
SHOWN_SCORES = ("inpaint.clip_score", "inpaint.known_psnr_64", "inpaint.known_psnr_256", "inpaint.known_lpips_256")


def no_plots(study: Study, folder: Path, options: ReportOptions) -> list[PlotFile]:
    return []


def inpaint_section(
    study: Study, plots: Sequence[PlotFile], cells: SampleCells, options: ReportOptions
) -> dict[str, Any] | None:
    """Per run with inpainting samples: rows of source, mask, 64 px and 256 px result; None when no run inpaints."""
    samples = study.samples
    if not all(column in samples for column in INPUT_COLUMNS) or samples["path_source"].isna().all():
        return None
    runs = []
    for run in study.runs:
        own = samples[(samples["run"] == run.label) & samples["path_source"].notna()]
        if own.empty:
            continue
        shown = own.sort_values(["prompt_id", "seed"], kind="stable").groupby("prompt_id", sort=False).head(SEEDS_SHOWN)
        rows = [_row(row, cells) for _, row in shown.iterrows()]
        runs.append({"run": run.label, "settings": run_settings(study, run), "rows": rows, "total": len(own)})
    return {"runs": runs}


def _image(cells: SampleCells, name: str, path: object) -> str | None:
    return cells.link(cells.thumbs.thumbnail(name, path if isinstance(path, str) else None))


def _row(row: pd.Series, cells: SampleCells) -> dict[str, Any]:
    source = row["path_source"]
    return {
        "prompt_id": str(row["prompt_id"]),
        "prompt": str(row["prompt"]),
        "seed": format_value(row.get("seed")),
        "source_prompt": row.get("source_prompt") if isinstance(row.get("source_prompt"), str) else None,
        "source": _image(cells, f"source_{Path(str(source)).stem}", source),
        "mask": _image(cells, f"mask_{Path(str(row['path_mask'])).stem}", row["path_mask"]),
        "result_64": _image(cells, f"{row['key']}_64", row.get("path_64")),
        "result_256": _image(cells, str(row["key"]), row.get("path_256")),
        "scores": [(c, format_value(row[c])) for c in SHOWN_SCORES if c in row and row[c] is not None],
    }


VIEW = View(id="inpaint", title="Inpainting", template="views/inpaint.html.j2", plots=no_plots, section=inpaint_section)
