"""The truth table of a toy-world study: for each claim, the planted answer, the verdict the truth reaches and
the verdict the harness's scorers reach, by the same statistics on the same samples.

    python -m harness.analysis.toy_truth SWEEP_DIR [SWEEP_DIR ...] [--store DIR]

Each sample's truth record (generator.read_truth) gives the value a perfect scorer would have written in the
finding's metric column; harness.analysis.findings then decides both columns alike (same compare, expect, target and
alpha, prompts as units). Writes truth_table.parquet and truth_table.md in the first path and prints the table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from harness.analysis.findings import EXPLORATORY, PROBE_SCORERS, ROLE_COLUMN, finding_from_config, findings
from harness.analysis.study import Run, Study, StudyInputError, load_study
from harness.config.schema import FindingConfig
from harness.errors import UsageError
from harness.io import write_parquet
from harness.run.rundir import HYDRA_RUNTIME
from harness.toy.generator import read_truth, truth_path
from harness.toy.world import GUIDANCE_HIGH, GUIDANCE_LOW, World

TABLE = "truth_table.parquet"
MARKDOWN = "truth_table.md"
COLUMNS = [
    "experiment",
    "metric",
    "expect",
    "planted",
    "n_prompts",
    "truth",
    "scorers",
    "agree",
    "truth_measured",
    "scorers_measured",
    "design",
    "world",
]
EFFECT, NO_EFFECT, OPPOSITE = "effect", "no effect", "opposite effect"
NO_VERDICT = "no verdict"
APART = "apart: exploratory"  # the agree cell of an exploratory row, which reaches no verdict to compare
NOTHING = "nothing drawn"


class TruthInputError(UsageError):
    """A path that holds no toy-world run, or samples whose truth records cannot be found."""


# --- what the world planted ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Law:
    """The world entries a finding's metric answers to: the claim holds when `high` exceeds `low` (a number
    when the other side of the law is a constant, e.g. no grain below the temperature onset)."""

    low: str | float
    high: str
    describe: Callable[[World], str]

    def planted(self, world: World) -> str:
        low = self.low if isinstance(self.low, float) else getattr(world, self.low)
        high = getattr(world, self.high)
        answer = EFFECT if high > low else NO_EFFECT if high == low else OPPOSITE
        return f"{answer}: {self.describe(world)}"


_G1, _G5 = f"{GUIDANCE_LOW:g}", f"{GUIDANCE_HIGH:g}"
LAWS: dict[str, Law] = {
    "bias/interest_share": Law(
        "church_share_at_1",
        "church_share_at_5",
        lambda w: f"church share {w.church_share_at_1:g} at guidance {_G1} -> {w.church_share_at_5:g} at {_G5}",
    ),
    "detect.coverage.lake": Law(
        "lake_area_at_1",
        "lake_area_at_5",
        lambda w: f"lake area {w.lake_area_at_1:g} at guidance {_G1} -> {w.lake_area_at_5:g} at {_G5}",
    ),
    "quality.sharpness_256": Law(
        0.0, "sharpen_at_1", lambda w: f"unsharp amount 0 at T <= {w.temp_onset:g} -> {w.sharpen_at_1:g} at T = 1"
    ),
    "quality.noise_256": Law(
        0.0, "grain_sd_at_1", lambda w: f"grain SD 0 at T <= {w.temp_onset:g} -> {w.grain_sd_at_1:g} at T = 1"
    ),
    "style.p_intended": Law(
        "style_failure",
        "pixel_art_failure",
        lambda w: f"failure rate pixel art {w.pixel_art_failure:g}, other styles {w.style_failure:g}",
    ),
    "detect.all_present": Law(
        "drop_familiar",
        "drop_novel",
        lambda w: f"object dropped: novel {w.drop_novel:g}, familiar {w.drop_familiar:g}",
    ),
    "clip.score": Law(
        "wrong_class_cfg",
        "wrong_class_clip",
        lambda w: f"wrong class: CLIP guidance {w.wrong_class_clip:g}, classifier-free {w.wrong_class_cfg:g}",
    ),
}


def run_world(config: Mapping[str, Any]) -> World:
    """The planted table a run was made with, from its flattened config (model.world.*)."""
    prefix = "model.world."
    return World.from_options({k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)})


# --- what each sample shows, read from its truth record -------------------------------------------------------


def drawn_class(record: Mapping[str, Any]) -> str | None:
    """The class of the first drawn object that has one (the religious class a perfect probe would name)."""
    for item in record["items"]:
        if item["drawn"] is not None and item["cls"]:
            return str(item["cls"])
    return None


def all_present(record: Mapping[str, Any]) -> float:
    """1 when every noun the prompt names was drawn as itself (not dropped, missing or another of its kind)."""
    return float(all(i["drawn"] is not None and i["status"] != "wrong_class" for i in record["items"]))


def lake_area(record: Mapping[str, Any]) -> float:
    """The visible lake's image fraction; 0 when the prompt names a lake the world dropped; NaN without a lake."""
    if not any(i["named"] == "lake" for i in record["items"]):
        return np.nan
    return float(record["lake_area"] or 0.0)


def in_intended_style(record: Mapping[str, Any]) -> float:
    """1 when the style asked for was drawn, with its subject."""
    return float(record["style_asked"] is not None and record["style_failure"] is None)


def adherent(record: Mapping[str, Any]) -> float:
    """1 when no named noun came out as another of its kind or went missing (prompt adherence)."""
    return float(all(i["status"] not in ("wrong_class", "dropped", "missing_subject") for i in record["items"]))


def _upsample_law(name: str) -> Callable[[Mapping[str, Any]], float]:
    def value(record: Mapping[str, Any]) -> float:
        return np.nan if record.get("upsample") is None else float(record["upsample"][name])

    return value


# Metric -> the truth of one sample. quality.* read the amounts the upsample law applied (recorded, not measured).
TRUTH: dict[str, Callable[[Mapping[str, Any]], float]] = {
    "detect.all_present": all_present,
    "detect.coverage.lake": lake_area,
    "style.p_intended": in_intended_style,
    "clip.score": adherent,
    "quality.sharpness_256": _upsample_law("sharpen"),
    "quality.noise_256": _upsample_law("grain_sd"),
}


def sample_records(samples: pd.DataFrame, store: Path) -> list[dict]:
    """Each sample's truth record: the 256 px image's, or the 64 px one's for a run that never upsampled."""
    out = []
    for key, base_key in zip(samples["key"], samples["base_key"], strict=True):
        for stage, name in (("upsample", key), ("base", base_key)):
            if isinstance(name, str) and truth_path(store, stage, name).is_file():
                out.append(read_truth(store, stage, name))
                break
        else:
            raise TruthInputError(
                f"no truth record for sample {key} under {truth_path(store, 'upsample', str(key)).parents[2]}; "
                "allowed: runs made with model=toy (give --store DIR when the store has moved)"
            )
    return out


def truth_samples(samples: pd.DataFrame, records: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> pd.DataFrame:
    """`samples` with each metric's column holding the truth instead of the scorer's reading; a run metric
    `<scorer>/interest_share` through its label column `<scorer>.pred`, set to the class drawn."""
    frame = samples.copy()
    for metric in metrics:
        if "/" in metric:
            # Nothing drawn is a label too (not the class of interest), never a missing reading.
            frame[f"{metric.split('/')[0]}.pred"] = [drawn_class(r) or NOTHING for r in records]
        elif metric in TRUTH:
            frame[metric] = [TRUTH[metric](r) for r in records]
        else:
            frame = frame.drop(columns=[metric], errors="ignore")  # no truth: left undecided, not the scorer's
    return frame


# --- the table ----------------------------------------------------------------------------------------------


def store_root(run: Run, store: Path | None) -> Path:
    """Where the run's samples (and their truth) were stored: `store` when given, else store.cache_dir read
    from the directory the run was started in (Hydra's runtime cwd), as the run resolved it."""
    if store is not None:
        return store
    cache_dir = Path(str(run.config.get("store.cache_dir") or ""))
    if cache_dir.is_absolute():
        return cache_dir
    runtime = run.path / HYDRA_RUNTIME
    saved = yaml.safe_load(runtime.read_text()) if runtime.is_file() else {}
    cwd = ((saved or {}).get("hydra") or {}).get("runtime", {}).get("cwd")
    return Path(cwd) / cache_dir if cwd else Path.cwd() / cache_dir


@dataclass
class _Claim:
    experiment: str
    claim: str
    finding: FindingConfig
    world: World
    runs: list[Run]


def _claims(study: Study) -> list[_Claim]:
    """The study's runs grouped by (claim, finding, planted table): each group is one question with one truth."""
    groups: dict[tuple, _Claim] = {}
    for run in study.runs:
        if str(run.config.get("model.name")) != "toy":
            raise TruthInputError(
                f"{run.path}: model {run.config.get('model.name')!r} has no truth; allowed: model=toy"
            )
        finding = finding_from_config(run.config)
        if finding is None:
            continue
        world = run_world(run.config)
        claim = str(run.config.get("note") or "")
        key = (claim, repr(finding), world.model_id)
        if key not in groups:
            experiment = str(run.config.get("experiment") or "")
            groups[key] = _Claim(experiment, claim, finding, world, [])
        groups[key].runs.append(run)
    return list(groups.values())


def _run_records(runs: Sequence[Run]) -> list[dict[str, Any]]:
    return [{"metrics": run.metrics, "overrides": run.overrides, "config": run.config} for run in runs]


def _agree(truth: str, scorers: str) -> str:
    if truth.startswith(EXPLORATORY):
        return APART
    if scorers.startswith(NO_VERDICT):
        return NO_VERDICT
    return "yes" if truth == scorers else "no"


def claim_rows(claim: _Claim, samples: pd.DataFrame, store: Path | None) -> list[dict[str, Any]]:
    """The truth-table rows of one claim: per metric, the verdict from the truth beside the scorers'."""
    per_run = [(run, samples[samples["run"] == run.label]) for run in claim.runs]
    mine = pd.concat([frame for _, frame in per_run])
    records = [r for run, frame in per_run for r in sample_records(frame, store_root(run, store))]
    truth_frame = truth_samples(mine, records, claim.finding.metrics)
    runs = _run_records(claim.runs)
    # The truth is a perfect probe: validated by construction, and its labels are what the images show.
    perfect = [{**run, "metrics": {f"{s}/validated": 1.0 for s in PROBE_SCORERS}} for run in runs]
    from_truth = findings(claim.finding, claim.claim, samples=truth_frame, runs=perfect, random_weights=False)
    random_weights = any(bool(run.random_weights) for run in claim.runs)
    from_scorers = findings(claim.finding, claim.claim, samples=mine, runs=runs, random_weights=random_weights)
    rows = []
    for truth, scored in zip(from_truth, from_scorers, strict=True):
        law = LAWS.get(truth.metric)
        rows.append(
            {
                "experiment": claim.experiment,
                "metric": truth.metric,
                "expect": f"{truth.expect} over {truth.compare}",
                "planted": law.planted(claim.world) if law else "not planted",
                "n_prompts": _row_prompts(mine, exploratory=truth.verdict.startswith(EXPLORATORY)),
                "truth": truth.verdict,
                "scorers": scored.verdict,
                "agree": _agree(truth.verdict, scored.verdict),
                "truth_measured": truth.measured,
                "scorers_measured": scored.measured,
                "design": truth.design,
                "world": claim.world.model_id,
            }
        )
    return rows


def _row_prompts(samples: pd.DataFrame, *, exploratory: bool) -> int:
    """The prompts a row is read on: the study's confirmatory ones, or its exploratory ones alone (controls,
    which validate probes, are neither)."""
    study = samples
    if "expected_class" in study.columns:
        study = study[study["expected_class"].fillna("").astype(str) == ""]
    roles = study[ROLE_COLUMN].astype(str) if ROLE_COLUMN in study.columns else pd.Series("", index=study.index)
    return int(study.loc[(roles == EXPLORATORY) == exploratory, "prompt_id"].nunique())


def truth_table(paths: Sequence[Path], store: Path | None = None) -> pd.DataFrame:
    """One row per claim and metric of the toy-world runs under `paths` (run dirs or sweep dirs)."""
    study = load_study(list(paths))
    rows = [row for claim in _claims(study) for row in claim_rows(claim, study.samples, store)]
    if not rows:
        raise TruthInputError(f"{', '.join(map(str, paths))}: no run with a finding; allowed: +experiment=NAME runs")
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown(table: pd.DataFrame) -> str:
    """The table's headline columns as a Markdown table."""
    heads = {
        "experiment": "experiment",
        "metric": "metric",
        "expect": "claim",
        "planted": "planted answer",
        "n_prompts": "prompts",
        "truth": "verdict from truth",
        "scorers": "verdict from scorers",
        "agree": "agree?",
        "design": "design (what the truth's verdict rests on)",
    }
    lines = ["| " + " | ".join(heads.values()) + " |", "|" + "---|" * len(heads)]
    for row in table.itertuples(index=False):
        cells = [str(getattr(row, column)).replace("|", "/") for column in heads]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.analysis.toy_truth",
        description="The truth table of model=toy runs: planted answer, verdict from the truth, verdict from scorers.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run dir(s) and/or multirun sweep dir(s) of model=toy")
    parser.add_argument("--store", type=Path, help="the runs' sample store (default: their store.cache_dir)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write truth_table.parquet and truth_table.md in the first path and print the table."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.store is not None and not args.store.is_dir():
            raise TruthInputError(f"--store: {str(args.store)!r} is not a directory; allowed: a sample store")
        table = truth_table(args.paths, args.store)
    except (StudyInputError, UsageError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    out = args.paths[0] if args.paths[0].is_dir() else args.paths[0].parent
    write_parquet(out / TABLE, table)
    text = markdown(table)
    (out / MARKDOWN).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
