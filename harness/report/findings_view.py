"""The report's Findings section: each experiment's claim, its metric, the measured value and the verdict.

Reads the finding and note each run was composed with and hands the study's tables to harness.analysis.findings.
"""

from __future__ import annotations

from harness.analysis.findings import NO_VERDICT_RANDOM, Finding, finding_from_config, findings
from harness.analysis.study import Study


def finding_metrics(study: Study) -> list[str]:
    """The per-sample score columns the study's findings name, so the paired comparisons cover them."""
    names: dict[str, None] = {}
    for run in study.runs:
        finding = finding_from_config(run.config)
        if finding is not None:
            names.update(dict.fromkeys(m for m in finding.metrics if "/" not in m and m in study.samples.columns))
    return list(names)


def study_findings(study: Study) -> list[Finding]:
    """The Findings rows of every distinct (claim, finding) among the study's runs."""
    groups: dict[tuple, list] = {}
    for run in study.runs:
        finding = finding_from_config(run.config)
        if finding is not None:
            claim = str(run.config.get("note") or "")
            groups.setdefault((claim, repr(finding)), [finding, []])[1].append(run)
    rows: list[Finding] = []
    for (claim, _), (finding, runs) in groups.items():
        rows += findings(
            finding,
            claim,
            samples=study.samples[study.samples["run"].isin([run.label for run in runs])],
            runs=[{"metrics": run.metrics, "overrides": run.overrides, "config": run.config} for run in runs],
            random_weights=any(bool(run.random_weights) for run in runs),
        )
    return rows


def findings_view(rows: list[Finding]) -> dict:
    return {
        "rows": [row.as_dict() for row in rows],
        "random_weights": any(row.verdict == NO_VERDICT_RANDOM for row in rows),
    }
