"""The page: the template's data for its own sections (header, image grids, metrics, runs) and the rendering.

Scorers' sections come from their views (harness.report.views); this module renders whatever it is given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from harness.analysis.comparisons import HOLM_NOTE
from harness.analysis.fidelity import ALPHA
from harness.analysis.metric_names import is_ci_bound, is_count, scorer_of, split_metric
from harness.analysis.study import REPLICATE_COLUMN, UNSET, Study, SweptParameter
from harness.analysis.values import format_value
from harness.io import finite_or_none
from harness.report.cells import Links, SampleCells
from harness.report.plots import Curve, PlotFile
from harness.report.series import metric_ci
from harness.scorers.glossary import GLOSSARY, glossary_line

TEMPLATE_DIR = Path(__file__).parent / "templates"
PAGE_TEMPLATE = "report.html.j2"


def render_page(context: dict[str, Any]) -> str:
    """The HTML page of the report from its template and `context` (every name the template uses)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(("html", "j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(PAGE_TEMPLATE).render(**context)


def header_view(study: Study) -> dict:
    models = dict.fromkeys(run.model_id for run in study.runs)
    random = dict.fromkeys(run.random_weights for run in study.runs)
    return {
        "models": list(models),
        "random_weights": [format_value(r) for r in random],
        "any_random": any(r is True for r in random),
        "n_runs": len(study.runs),
        "n_samples": len(study.samples),
        "parameters": [{"name": p.name, "values": [format_value(v) for v in p.values]} for p in study.parameters],
        "notes": study_notes(study),
        "n_notes_written": sum(len(run.notes) for run in study.runs),
        "configs": [
            {
                "run": run.label,
                "path": str(run.path),
                "overrides": " ".join(run.override_list),
                "items": [(k, format_value(v)) for k, v in sorted(run.config.items())],
            }
            for run in study.runs
        ],
    }


def study_notes(study: Study) -> list[dict]:
    """Each distinct note once, in first-seen order, with the runs that wrote it ("all N runs" when every run did)."""
    runs: dict[str, list[str]] = {}
    for run in study.runs:
        for note in dict.fromkeys(run.notes):
            runs.setdefault(note, []).append(run.label)
    n_runs = len(study.runs)
    return [
        {
            "text": note,
            "runs": labels,
            "where": f"all {n_runs} runs" if n_runs > 1 and len(labels) == n_runs else ", ".join(labels),
        }
        for note, labels in runs.items()
    ]


def _prompt_rows(samples: pd.DataFrame) -> list[tuple[str, str]]:
    tag_columns = [c for c in samples.columns if c.startswith("tag.")]
    rows = {}
    for _, row in samples.drop_duplicates("prompt_id").iterrows():
        tags = [f"{c[4:]}: {row[c]}" for c in tag_columns if isinstance(row[c], str)]
        rows[str(row["prompt_id"])] = " · ".join([str(row["prompt"]), *tags])
    return list(rows.items())


def grid_view(study: Study, param: SweptParameter | None, cells: SampleCells) -> dict:
    """Prompts as rows, the parameter's values as columns, one sample per cell (the lowest seed)."""
    others = [p for p in study.parameters if p is not param and p.name != REPLICATE_COLUMN]
    mask = np.ones(len(study.samples), dtype=bool)
    for other in others:
        mask &= (study.samples[other.column] == other.held_value).to_numpy()
    chosen = study.samples[mask].sort_values(["seed", "key"], kind="stable")
    column = param.column if param else "run"
    values = param.values if param else tuple(dict.fromkeys(study.samples["run"]))
    first = chosen.drop_duplicates(["prompt_id", column]).set_index(["prompt_id", column], drop=False)
    rows = []
    for prompt_id, label in _prompt_rows(study.samples):
        row_cells = []
        for value in values:
            if (prompt_id, value) in first.index:
                row = first.loc[(prompt_id, value)]
                row_cells.append(cells.cell(row, study.score_columns))
            else:
                row_cells.append(None)
        rows.append({"label": label, "cells": row_cells})
    return {
        "param": param.name if param else "samples",
        "values": [format_value(v) for v in values],
        "held": [f"{p.name}={format_value(p.held_value)}" for p in others],
        "rows": rows,
    }


def metrics_view(
    study: Study,
    plots: Sequence[PlotFile],
    link: Links,
    expected_scorers: Sequence[str],
    flat: Sequence[Curve] = (),
) -> list[dict]:
    """One section per scorer: its plots and a line per flat curve, or its values when nothing is swept, or
    'not computed'."""
    groups = dict.fromkeys(expected_scorers)
    groups.update(dict.fromkeys(scorer_of(m) for m in (*study.metric_names, *study.score_columns)))
    sections = []
    for group in groups:
        notes = sorted({n for run in study.runs for n in run.notes if _is_note_of(n, group)})
        metrics = [m for m in study.metric_names if scorer_of(m) == group]
        present = [m for m in metrics if any(run.metrics.get(m) is not None for run in study.runs)]
        # A sample count alone (fid/n_ref without fid/fid, say) does not make a scorer's result.
        computed = [m for m in present if not is_count(m)]
        group_plots = [p for p in plots if p.kind == "metric" and scorer_of(p.metric) == group]
        group_flat = [
            {"text": c.flat_line(), "metric": c.metric, "param": c.param.name}
            for c in flat
            if scorer_of(c.metric) == group
        ]
        if not (computed or group_plots or group_flat or notes or study.asked_for(group)):
            continue  # no run asked for this scorer and none says anything about it
        sections.append(
            {
                "name": group,
                "computed": bool(computed or group_plots or group_flat),
                "why": _why_not_computed(group, notes, [m for m in metrics if m not in present]),
                "missing": [m for m in metrics if m not in present],
                "partial": [_partly_missing(study, m) for m in computed if _partly_missing(study, m)],
                "plots": [{"src": link(p.path), "metric": p.metric, "param": p.parameter} for p in group_plots],
                "flat": group_flat,
                "values": [] if group_plots or group_flat else _value_rows(study, present),
                "notes": notes,
                "glossary": _glossary(computed),
            }
        )
    return sections


def _why_not_computed(scorer: str, notes: Sequence[str], missing: Sequence[str]) -> str:
    """One line on why a scorer has no result: its notes (without their scorer prefix), or what is missing."""
    if notes:
        return "; ".join(re.sub(rf"^{re.escape(scorer)}:\s*", "", note) for note in notes)
    if missing:
        return f"{', '.join(missing)} missing"
    return "no run wrote its metrics"


def _glossary(metrics: Sequence[str]) -> list[str]:
    """One line per metric stem shown: what it is, its range and its interval method."""
    stems = dict.fromkeys(split_metric(m)[0] for m in metrics if not is_ci_bound(m))
    return [glossary_line(stem) for stem in stems if stem in GLOSSARY]


def _is_note_of(note: str, scorer: str) -> bool:
    # Scorers start their notes with their name: "fid: ...", "fid[tag.style=ink]: ...".
    return re.match(rf"{re.escape(scorer)}\b", note.lower()) is not None


def _partly_missing(study: Study, metric: str) -> str:
    runs = [run.label for run in study.runs if run.metrics.get(metric) is None]
    return f"{metric}: not computed in {', '.join(runs)}" if runs else ""


def _value_rows(study: Study, metrics: Sequence[str]) -> list[dict]:
    rows = []
    for run in study.runs:
        for metric in metrics:
            low, high = metric_ci(run, metric)
            ci = f"[{format_value(low)}, {format_value(high)}]" if None not in (low, high) else ""
            rows.append({"run": run.label, "metric": metric, "value": format_value(run.metrics.get(metric)), "ci": ci})
    return rows


def runs_view(study: Study) -> dict:
    """The run table: swept overrides, model, sample count and every summary metric (CI on hover)."""
    params = [p for p in study.parameters if p.between_runs]
    metrics = study.metric_names
    rows = []
    for run in study.runs:
        cells = [_table_cell(run.label)]
        cells += [_table_cell(run.overrides.get(p.name, UNSET)) for p in params]
        cells += [_table_cell(run.model_id), _table_cell(run.random_weights), _table_cell(len(run.samples))]
        for metric in metrics:
            low, high = metric_ci(run, metric)
            cell = _table_cell(run.metrics.get(metric))
            if None not in (low, high):
                cell["title"] = f"{metric} CI [{format_value(low)}, {format_value(high)}]"
            cells.append(cell)
        rows.append({"cells": cells, "overrides": " ".join(run.override_list)})
    header = ["run", *(p.name for p in params), "model", "random weights", "samples", *metrics]
    return {"header": header, "rows": rows}


def comparisons_view(comparisons: pd.DataFrame) -> dict:
    """The paired-comparison table: one row per (parameter, held values, adjacent pair, metric)."""
    rows = []
    for row in comparisons.itertuples(index=False):
        rows.append(
            {
                "param": row.param,
                "held": row.held,
                "pair": f"{format_value(row.value_a)} → {format_value(row.value_b)}",
                "metric": row.metric,
                "cells": [
                    _table_cell(v) for v in (row.diff, row.ci_low, row.ci_high, row.p, row.p_holm, row.n_prompts)
                ],
                "method": row.method,
            }
        )
    note = HOLM_NOTE.format(n=len(comparisons)) if len(comparisons) else ""
    return {"rows": rows, "note": note}


FIDELITY_COLUMNS = ("forwards_per_image", "seconds_per_image", "lpips", "clip_cosine", "fid", "clip_fd")


def fidelity_view(tables: Sequence[pd.DataFrame | None]) -> dict:
    """The sampler-fidelity table of the sweeps that have one: a row per point, each tested quantity's mean
    per-prompt difference with its equivalence interval and margin, the point's verdict, the cheapest marked."""
    frames = [t for t in tables if t is not None]
    if not frames:
        return {"rows": []}
    table = pd.concat(frames, ignore_index=True)
    tested = [c.removeprefix("diff.") for c in table.columns if c.startswith("diff.")]
    header = ["point", *FIDELITY_COLUMNS, *(f"{q}: diff [interval] / margin" for q in tested), "verdict"]
    rows = []
    for row in table.to_dict("records"):
        cells = [_table_cell(row[c]) for c in FIDELITY_COLUMNS]
        cells += [_equivalence_cell(row, q) for q in tested]
        cells.append(_table_cell(row.get("verdict", "")))
        label = row["point"] + (" (reference)" if row["reference"] else "") + (" — cheapest" if row["cheapest"] else "")
        rows.append({"point": label, "cells": cells, "note": row["note"]})
    return {"header": header, "rows": rows, "alpha": ALPHA, "level": f"{1 - 2 * ALPHA:.0%}"}


def _equivalence_cell(row: dict, quantity: str) -> dict:
    """`diff [low, high] / margin`, sorted by diff; the title says whether the interval lies inside the margin."""
    low, high = row.get(f"eq_low.{quantity}"), row.get(f"eq_high.{quantity}")
    interval = f" [{format_value(low)}, {format_value(high)}]" if finite_or_none(low) is not None else ""
    cell = _table_cell(row[f"diff.{quantity}"])
    cell["text"] = f"{format_value(row[f'diff.{quantity}'])}{interval} / {format_value(row[f'spread.{quantity}'])}"
    cell["title"] = "inside ±margin" if row.get(f"equivalent.{quantity}") else "not shown inside ±margin"
    return cell


def _table_cell(value: object) -> dict:
    number = finite_or_none(value)
    sort = number if number is not None else format_value(value)
    return {"text": format_value(value), "sort": sort, "title": ""}
