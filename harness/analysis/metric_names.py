"""How scorers name their metrics, read back: grouped metrics `<stem>[<group>]`, CI bounds and counts.

Scorers name a metric of one subset `<stem>[<group>]`, e.g. `bias/share[class=church]`, `fid/fid[tag.style=ink]`;
its CI bounds are `<stem>_ci_low[<group>]` and `<stem>_ci_high[<group>]`.
"""

from __future__ import annotations

import re

CI_SUFFIXES = ("_ci_low", "_ci_high")
GROUPED_METRIC = re.compile(r"^(?P<stem>[^\[]+)\[(?P<group>[^\]]*)\]$")


def split_metric(metric: str) -> tuple[str, str | None]:
    """`bias/share[class=church]` -> ('bias/share', 'class=church'); an ungrouped name -> (name, None)."""
    match = GROUPED_METRIC.match(metric)
    return (match["stem"], match["group"]) if match else (metric, None)


def is_ci_bound(metric: str) -> bool:
    return split_metric(metric)[0].endswith(CI_SUFFIXES)


def is_count(metric: str) -> bool:
    """Sample counts (`clip/n`, `bias/n_probe`, `bias/probe_n`, `fid/n[...]`) go in the table, not in plots."""
    leaf = split_metric(metric)[0].rsplit("/", 1)[-1]
    return leaf == "n" or leaf.startswith("n_") or leaf.endswith("_n")


def ci_names(metric: str) -> tuple[tuple[str, str], ...]:
    """Candidate (low, high) names of a metric's CI bounds, also with a `_mean` suffix of the stem dropped."""
    stem, group = split_metric(metric)
    suffix = "" if group is None else f"[{group}]"
    stems = dict.fromkeys((stem, stem.removesuffix("_mean")))
    return tuple((f"{s}_ci_low{suffix}", f"{s}_ci_high{suffix}") for s in stems)


def scorer_of(name: str) -> str:
    """The scorer a metric (`clip/score_mean`) or a score column (`clip.score`) belongs to."""
    return re.split(r"[/.]", name, maxsplit=1)[0]
