"""The report's Findings section: each experiment's claim, its metric, the measured value and the verdict, as
harness.analysis.study's study_findings computes them."""

from __future__ import annotations

from harness.analysis.findings import NO_VERDICT_RANDOM, Finding


def findings_view(rows: list[Finding]) -> dict:
    return {
        "rows": [row.as_dict() for row in rows],
        "random_weights": any(row.verdict == NO_VERDICT_RANDOM for row in rows),
    }
