"""The guide's own score beside an independent CLIP's: one row per guidance point (guidance, scale) of a study.

Reads each run's summary metrics clip/score_* and guide_clip/score_* (intervals over prompts, as the scorers
computed them); the rows appear only when some run has the guide's score.
"""

from __future__ import annotations

from harness.analysis.study import Run, Study
from harness.analysis.values import format_value, sorted_values

SCORES = {"clip": "clip/score", "guide": "guide_clip/score"}


def _interval(run: Run, stem: str) -> str:
    mean = run.metrics.get(f"{stem}_mean")
    low, high = run.metrics.get(f"{stem}_ci_low"), run.metrics.get(f"{stem}_ci_high")
    interval = f" [{format_value(low)}, {format_value(high)}]" if low is not None and high is not None else ""
    return f"{format_value(mean)}{interval}"


def _setting(run: Run, column: str) -> str:
    if column not in run.samples:
        return format_value(None)
    return ", ".join(format_value(v) for v in sorted_values(run.samples[column].dropna()))


def _order(run: Run) -> tuple:
    scales = run.samples.get("guidance_scale", [])
    return _setting(run, "guidance"), min((float(v) for v in scales), default=0.0)


def guide_scores_view(study: Study) -> dict:
    """Rows (guidance, scale, CLIP score [CI], guide score [CI], prompts), in order of guidance then scale."""
    runs = sorted((run for run in study.runs if run.metrics.get(f"{SCORES['guide']}_mean") is not None), key=_order)
    rows = [
        {
            "run": run.label,
            "guidance": _setting(run, "guidance"),
            "scale": _setting(run, "guidance_scale"),
            "clip": _interval(run, SCORES["clip"]),
            "guide": _interval(run, SCORES["guide"]),
            "prompts": format_value(run.metrics.get("guide_clip/n_prompts")),
        }
        for run in runs
    ]
    return {"rows": rows}
