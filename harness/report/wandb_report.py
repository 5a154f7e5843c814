"""The optional W&B report of a study: a saved W&B report with one scatter panel per metric and swept override.

Needs `wandb login`, network and the wandb-workspaces package; the HTML report needs none of them.
"""

from __future__ import annotations

import os

from harness.analysis.metric_names import is_count
from harness.analysis.study import Study
from harness.report.html import header_view


class WandbReportError(RuntimeError):
    """The optional W&B report could not be created (no login, offline, package missing); one-line message."""


def wandb_reports_module():
    """The wandb-workspaces reports API once W&B is online and logged in; WandbReportError if not."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "disabled", "dryrun"):
        raise WandbReportError(f"--wandb needs W&B online, but WANDB_MODE={mode} (the HTML report needs neither)")
    try:
        import wandb
        import wandb_workspaces.reports.v2 as wr
    except ImportError as err:
        raise WandbReportError(
            f"--wandb needs the wandb-workspaces package: pip install wandb-workspaces ({err})"
        ) from err
    try:
        wandb.Api()
    except Exception as err:
        raise WandbReportError(f"--wandb needs a W&B login (run `wandb login`): {_first_line(err)}") from err
    return wr


def wandb_report_blocks(
    wr, study: Study, *, project: str, entity: str | None, title: str, group: str | None = None
) -> list:
    """Report blocks: a heading, what was swept, one scatter panel per (summary metric, swept override).

    Override keys are the runs' W&B config keys and metric names their summary keys, as the tracker logs them;
    `group` keeps the panels to the runs of one W&B group (one sweep).
    """
    params = [p.name for p in study.plot_parameters if p.between_runs]
    panels = [
        wr.ScatterPlot(title=f"{m} vs {p}", x=wr.Config(p), y=wr.SummaryMetric(m))
        for m in study.metric_names
        if not is_count(m)
        for p in params
    ]
    where: dict[str, object] = {"entity": entity} if entity else {}
    if group:
        from wandb_workspaces import expr

        where["filters"] = [expr.Metric("Group") == group]
    runset = wr.Runset(project=project, **where)
    models = ", ".join(header_view(study)["models"])
    return [
        wr.H1(text=title),
        wr.P(text=f"Models: {models}. Swept: {', '.join(params) or 'nothing'}."),
        wr.PanelGrid(runsets=[runset], panels=panels),
    ]


def create_wandb_report(
    study: Study,
    *,
    project: str,
    entity: str | None = None,
    group: str | None = None,
    title: str = "glide-eval sweep",
) -> str:
    """Save a W&B report for `project` with the sweep's metric panels; return its URL.

    Needs `wandb login`, network and the `wandb-workspaces` package; raises WandbReportError otherwise.
    """
    wr = wandb_reports_module()
    blocks = wandb_report_blocks(wr, study, project=project, entity=entity, title=title, group=group)
    try:
        report = wr.Report(project=project, title=title, blocks=blocks, **({"entity": entity} if entity else {}))
        report.save()
        return report.url
    except Exception as err:
        raise WandbReportError(f"could not save the W&B report: {_first_line(err)}") from err


def logger_setting(study: Study, key: str) -> str | None:
    """`logger.<key>` of the runs' config when every run that has it agrees, else None."""
    values = {run.config.get(f"logger.{key}") for run in study.runs} - {None, ""}
    return str(values.pop()) if len(values) == 1 else None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
