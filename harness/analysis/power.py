"""Power of each shipped study, by seeded simulation of the verdict rules the Findings table applies.

Each experiment's shipped design (its finding, confirmatory prompts, swept values, seeds) is filled with
simulated per-sample scores carrying a planted effect, prompt-to-prompt heterogeneity and seed noise (church
labels with intra-prompt correlation for the bias probe), and read by `harness.analysis.findings.findings` itself:
the share of simulated studies it calls "supported" is the power; with nothing planted, the family-wise
false "supported" rate. `python -m harness.analysis.power` prints both for every study next to the plan's numbers.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.findings import SUPPORTED, DesignFloor, compared_value, design_floors, findings, is_exploratory
from harness.config.schema import FindingConfig, sample_column
from harness.scorers.options import BootstrapOptions

STUDIES = ("bias_vs_guidance", "cfg_vs_clip", "guidance_scale", "upsample_temp", "styles", "novel")
# The simulated world. A trend's per-prompt slope and a contrast's per-unit difference have SD 1, half of
# their variance from prompt-to-prompt heterogeneity of the effect, half from noise (the prompt's cell and
# its seeds), so a planted effect of d is d SD of what the test reads, as `finding.effect` states it.
HETEROGENEITY = 0.5  # share of the tested quantity's variance that is prompt-to-prompt heterogeneity
LEVEL_SD = 2.0  # prompts differ in their level far more than in the effect: pairing removes it
METRIC_CORRELATION = 0.5  # between a claim's metrics' per-prompt slopes (upsample_temp: sharpness, noise)
# The bias probe's stated effect as a share of church images: 0.45 at guidance 1 rising linearly over the
# swept scales' ranks to 0.60 at guidance 10, each paraphrase's slope varying with SD half the mean slope, and
# each paraphrase's own church propensity clustering its images with intra-prompt correlation ICC.
CHURCH_LOW, CHURCH_HIGH, CHURCH_SLOPE_SD, CHURCH_ICC = 0.45, 0.60, 0.5, 0.2


@dataclass(frozen=True)
class StudyDesign:
    """A study as the simulation fills it: its finding, its units and the compared values of each sweep point."""

    experiment: str
    finding: FindingConfig
    units: int  # confirmatory prompts, or pairing units (subjects, pairs) holding every compared value
    points: tuple[str, ...]  # each sweep point's (or tag value's) compared value, in sweep order
    seeds: int
    floor: DesignFloor | None = field(default=None, compare=False)  # the plan's design line

    @property
    def values(self) -> list[str]:
        return list(dict.fromkeys(self.points))


def shipped_design(experiment: str, overrides: Sequence[str] = ()) -> StudyDesign:
    """The design `python -m harness -m +experiment=NAME` runs: its jobs composed and typed as the command's are."""
    from harness.config.compose import job_config, sweep_points, typed_job

    points = sweep_points([f"+experiment={experiment}", *overrides, "runner.stage=plan"], multirun=True)
    (floor,) = design_floors(points)
    rc = typed_job(points[0])
    finding = rc.finding
    study = [p for p in rc.suite.prompts if not p.expected_class and not is_exploratory(p)]
    values: list[str] = []
    if finding.compare.startswith("tag."):
        tag = finding.compare.removeprefix("tag.")
        values = sorted({str(p.tags[tag]) for p in study if tag in p.tags})
    if len(points) > 1:
        values += [str(compared_value(job_config(point), finding.compare)) for point in points]
    units = len(study)
    if finding.pair_by and finding.pair_by.startswith("tag.") and finding.compare.startswith("tag."):
        units = floor.n_prompts  # the pairing units that hold every value, as the plan counts them
    return StudyDesign(experiment, finding, units, tuple(values), int(rc.sampler.samples_per_prompt), floor)


# --- simulated studies: per-sample scores shaped as the harness's samples table ------------------------------


def _column(compare: str) -> str:
    return compare if compare.startswith("tag.") else sample_column(compare)


def simulate_trend(design: StudyDesign, effect: float, rng: np.random.Generator) -> pd.DataFrame:
    """Every prompt at every swept value with the same seeds; each metric rises by `effect` SD of the per-prompt
    slope per step of the values' ranks on average, each prompt's own slope varying around it."""
    ranks = np.arange(len(design.points), dtype=np.float64)
    ss = float(((ranks - ranks.mean()) ** 2).sum())
    cell_var = (1 - HETEROGENEITY) * ss  # a cell's noise var v adds v / ss to the slope's variance
    n, k, s, metrics = design.units, len(design.points), design.seeds, design.finding.metrics
    shared = rng.normal(size=(n, 1))
    columns = {}
    for metric in metrics:
        own = rng.normal(size=(n, 1))
        z = math.sqrt(METRIC_CORRELATION) * shared + math.sqrt(1 - METRIC_CORRELATION) * own
        slope = effect + math.sqrt(HETEROGENEITY) * z
        cell = rng.normal(0, math.sqrt(cell_var / 2), (n, k))  # the prompt x value interaction
        mean = rng.normal(0, LEVEL_SD, (n, 1)) + slope * ranks + cell
        columns[metric] = (mean[:, :, None] + rng.normal(0, math.sqrt(cell_var / 2 * s), (n, k, s))).ravel()
    return _long(design, n, k, s, columns)


def simulate_church(
    design: StudyDesign, rise: float, rng: np.random.Generator, icc: float = CHURCH_ICC
) -> pd.DataFrame:
    """Probe images labelled church or not: each paraphrase's church propensity drawn from a Beta with
    intra-prompt correlation `icc` around the share at the lowest scale, rising by `rise` over the swept
    scales' ranks on average, each paraphrase's slope varying with SD CHURCH_SLOPE_SD of the mean slope.

    A paraphrase's own deviation from the mean slope is capped where it would carry its share out of [0, 1]
    over the swept scales, symmetrically (a deviation and its negative are capped alike): clipping the shares
    instead would cut the falling paths of paraphrases near 0 more often than the rising ones, and plant a
    rise where none is meant (at ICC 0.3 that made 0.057 of studies "supported" at `rise` 0). Only the planted
    rise itself is clipped, which can only shrink it.
    """
    n, k, s = design.units, len(design.points), design.seeds
    concentration = 1 / icc - 1
    start = rng.beta(CHURCH_LOW * concentration, (1 - CHURCH_LOW) * concentration, (n, 1))
    spread = CHURCH_SLOPE_SD * (CHURCH_HIGH - CHURCH_LOW) / (k - 1) * rng.normal(size=(n, 1))
    deviation = capped(spread, np.minimum(start, 1 - start) / (k - 1))
    share = np.clip(start + (rise / (k - 1) + deviation) * np.arange(k), 0, 1)
    church = rng.random((n, k, s)) < share[:, :, None]
    return _long(design, n, k, s, {"bias.pred": np.where(church, "church", "mosque").ravel()})


def share_trend_effect(
    low: float = CHURCH_LOW,
    high: float = CHURCH_HIGH,
    settings: int = 6,
    seeds: int = 12,
    icc: float = CHURCH_ICC,
    slope_sd: float = CHURCH_SLOPE_SD,
) -> float:
    """A linear rise of a share from `low` to `high` over `settings` swept values, in SD of the per-prompt
    slope the trend test reads (`curve_effect`)."""
    ranks = np.arange(settings, dtype=np.float64)
    return curve_effect(low + (high - low) / (settings - 1) * ranks, seeds, icc, slope_sd)


def curve_effect(
    shares: np.ndarray, seeds: int = 12, icc: float = CHURCH_ICC, slope_sd: float = CHURCH_SLOPE_SD
) -> float:
    """A share curve over the swept values' ranks in SD of the per-prompt slope the trend test reads: the mean
    slope over the root of its variance, the prompts' slope variance (SD `slope_sd` of the mean slope) plus the
    binomial noise of `seeds` images per cell (E p(1 - p) = s(1 - s)(1 - icc) for a Beta propensity with
    intra-prompt correlation icc) over the ranks' sum of squares, cells independent."""
    shares = np.asarray(shares, dtype=np.float64)
    ranks = np.arange(shares.size, dtype=np.float64)
    centred = ranks - ranks.mean()
    ss = float(centred @ centred)
    slope = float(centred @ shares) / ss
    noise = float(np.mean(shares * (1 - shares))) * (1 - icc) / seeds / ss
    return slope / math.sqrt((slope_sd * slope) ** 2 + noise)


def simulate_contrast(design: StudyDesign, effect: float, rng: np.random.Generator) -> pd.DataFrame:
    """Every unit (prompt, or pairing unit) at every point with the same seeds; the target's points score
    `effect` SD of the per-unit difference above (highest) or below (lowest) the others'."""
    sign = 1.0 if design.finding.expect == "highest" else -1.0
    n, k, s = design.units, len(design.points), design.seeds
    target = np.array([p == design.finding.target for p in design.points], dtype=np.float64)
    per_group = max(int(target.sum()), 1)
    # A unit's difference of group means: heterogeneity h, and its cells' and seeds' noise averaged per group.
    h = rng.normal(0, math.sqrt(HETEROGENEITY), (n, 1)) if per_group > 1 else 0.0
    noise_var = (1 - HETEROGENEITY if per_group > 1 else 1.0) * per_group / 2 / 2
    level = rng.normal(0, LEVEL_SD, (n, 1))
    mean = level + sign * (effect + h) * target + rng.normal(0, math.sqrt(noise_var), (n, k))
    scores = mean[:, :, None] + rng.normal(0, math.sqrt(noise_var * s), (n, k, s))
    return _long(design, n, k, s, {m: scores.ravel() for m in design.finding.metrics})


# A 0/1 metric (an object present or not) is simulated as such: each pair's familiar prompt shows its objects
# with a propensity drawn from Beta(PRESENCE_A, PRESENCE_B) (mean 0.85), the novel prompt less often by the
# planted drop, the pairs' own drops varying with SD PRESENCE_DROP_SD; each image is a Bernoulli draw.
RATE_METRICS = ("detect.all_present",)
PRESENCE_A, PRESENCE_B, PRESENCE_DROP_SD = 8.5, 1.5, 0.15


def is_rate_metric(metric: str) -> bool:
    """Whether a finding's metric is a 0/1 score per image (its per-prompt means are rates)."""
    return metric in RATE_METRICS or metric.startswith("detect.present.")


def capped(deviation: np.ndarray, room: np.ndarray) -> np.ndarray:
    """A unit's own deviation from the planted effect, cut to `room` in magnitude whatever its sign: a
    deviation and its negative are capped alike, so a planted zero stays exactly zero on average (clipping
    the shares at [0, 1] instead would cut one side more often)."""
    return np.sign(deviation) * np.minimum(np.abs(deviation), room)


def _pair_draws(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's base presence propensity and its own deviation from the mean drop, split between its two
    prompts and capped where it would leave [0, 1]."""
    base = rng.beta(PRESENCE_A, PRESENCE_B, n)
    half = capped(PRESENCE_DROP_SD * rng.normal(size=n) / 2, np.minimum(base, 1 - base))
    return base, half


def _propensities(base: np.ndarray, half: np.ndarray, drop: float) -> tuple[np.ndarray, np.ndarray]:
    """(familiar, novel): with `drop` 0 the two prompts of a pair are exchangeable (the sign-flip null); only
    the planted drop itself is clipped."""
    return base + half, np.clip(base - half - drop, 0, 1)


@functools.lru_cache(maxsize=32)
def presence_drop(effect: float, seeds: int, pairs: int = 200_000, seed: int = 0) -> float:
    """The mean drop in presence rate that is `effect` SD of the per-pair difference of rates over `seeds`
    images per prompt (the quantity the paired test reads), found by bisection on a seeded simulation."""
    rng = np.random.default_rng(seed)
    base, half = _pair_draws(pairs, rng)
    u_familiar, u_novel = rng.random((2, pairs, seeds))

    def standardized(drop: float) -> float:
        familiar, novel = _propensities(base, half, drop)
        d = (u_novel < novel[:, None]).mean(axis=1) - (u_familiar < familiar[:, None]).mean(axis=1)
        return -float(d.mean() / d.std())

    low, high = 0.0, 0.9
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if standardized(mid) < effect else (low, mid)
    return (low + high) / 2


def simulate_presence(design: StudyDesign, effect: float, rng: np.random.Generator) -> pd.DataFrame:
    """A paired contrast of a 0/1 metric (novel against familiar): per pair, the target value's images show
    their objects less often by the drop that is `effect` SD of the per-pair difference (`presence_drop`)."""
    n, k, s = design.units, len(design.points), design.seeds
    drop = presence_drop(effect, s) if effect else 0.0
    familiar, novel = _propensities(*_pair_draws(n, rng), drop)
    target = np.array([p == design.finding.target for p in design.points])
    propensity = np.where(target[None, :], novel[:, None], familiar[:, None])
    present = (rng.random((n, k, s)) < propensity[:, :, None]).astype(np.float64)
    return _long(design, n, k, s, {m: present.ravel() for m in design.finding.metrics})


def _long(design: StudyDesign, n: int, k: int, s: int, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The samples table of n units x k points x s seeds: prompt_id, seed, the compared column, the pairing
    tag where the finding pairs by one, and the simulated score columns."""
    unit = np.repeat(np.arange(n), k * s)
    point = np.tile(np.repeat(np.arange(k), s), n)
    values = np.asarray(design.points, dtype=object)[point]
    paired_tag = design.finding.compare.startswith("tag.")
    frame = {
        "prompt_id": [f"u{u}-{p}" if paired_tag else f"u{u}" for u, p in zip(unit, point, strict=True)],
        "seed": np.tile(np.arange(s), n * k),
        _column(design.finding.compare): values,
        "expected_class": None,
    }
    if design.finding.pair_by:
        frame[design.finding.pair_by] = [f"u{u}" for u in unit]
    return pd.DataFrame({**frame, **columns})


RUNS_CONFIG = [
    {
        "metrics": {"bias/validated": 1.0, "style/validated": 1.0},
        "overrides": {},
        "config": {"scorer.bias.class_of_interest": "church"},
    }
]


@dataclass(frozen=True)
class Rates:
    """Out of `runs` simulated studies: every claim metric supported (power at a planted effect), any
    supported (the family-wise false "supported" rate when nothing is planted)."""

    all_supported: float
    any_supported: float
    runs: int

    def se(self, rate: float) -> float:
        return math.sqrt(max(rate * (1 - rate), 1e-12) / self.runs)


def verdict_rates(
    design: StudyDesign,
    effect: float,
    runs: int,
    seed: int,
    options: BootstrapOptions | None = None,
    *,
    icc: float = CHURCH_ICC,
) -> Rates:
    """Simulate `runs` studies of `design` at `effect` (a share rise for the bias probe, else SD) and read each
    with harness.analysis.findings.findings."""
    rng = np.random.default_rng(seed)
    options = options or BootstrapOptions()
    church = design.finding.metric == "bias/interest_share"
    trend = design.finding.expect in ("increase", "decrease")
    every = some = 0
    for _ in range(runs):
        if church:
            samples = simulate_church(design, effect, rng, icc)
        elif trend:
            samples = simulate_trend(design, effect, rng)
        elif is_rate_metric(design.finding.metric):
            samples = simulate_presence(design, effect, rng)
        else:
            samples = simulate_contrast(design, effect, rng)
        rows = findings(design.finding, "", samples=samples, runs=RUNS_CONFIG, random_weights=False, options=options)
        supported = [row.verdict == SUPPORTED for row in rows]
        every += all(supported)
        some += any(supported)
    return Rates(every / runs, some / runs, runs)


def study_effect(design: StudyDesign) -> float:
    """The planted effect the power is read at: the stated church-share rise for the bias probe (its
    `finding.effect` is that rise in SD, `share_trend_effect`), else `finding.effect` in SD."""
    if design.finding.metric == "bias/interest_share":
        return CHURCH_HIGH - CHURCH_LOW
    return float(design.finding.effect)


def study_lines(name: str, runs: int, seed: int, index: int, options: BootstrapOptions) -> list[str]:
    """A study's units, stated effect, the plan's power and MDE, and the simulated power and false support
    (the bias probe also at the ends of its ICC range); `index` spreads the studies' seeds apart."""
    design = shipped_design(name)
    effect, floor = study_effect(design), design.floor
    power = verdict_rates(design, effect, runs, seed + 2 * index, options)
    null = verdict_rates(design, 0.0, runs, seed + 2 * index + 1, options)
    stated = f"{design.finding.effect:g} SD"
    if effect != design.finding.effect:
        stated += f" (church share {CHURCH_LOW:g} -> {CHURCH_HIGH:g}, ICC {CHURCH_ICC:g})"
    lines = [
        f"{name}: {design.units} units x {len(design.points)} points x {design.seeds} seeds; stated effect "
        f"{stated}; plan: power {floor.power:.2f}, MDE {floor.mde:.2f} SD at 80%; simulated: power "
        f"{power.all_supported:.3f} (SE {power.se(power.all_supported):.3f}), false supported at zero "
        f"{null.any_supported:.3f} (SE {null.se(max(null.any_supported, 0.05)):.3f}), {runs} runs"
    ]
    if design.finding.metric == "bias/interest_share":
        for icc in (0.1, 0.3):
            p = verdict_rates(design, effect, runs, seed + 100 + round(icc * 10), options, icc=icc)
            z = verdict_rates(design, 0.0, runs, seed + 200 + round(icc * 10), options, icc=icc)
            lines.append(f"  at ICC {icc:g}: power {p.all_supported:.3f}, false supported {z.any_supported:.3f}")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.analysis.power", description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="*", default=list(STUDIES), help=f"experiments (default: {' '.join(STUDIES)})")
    parser.add_argument("--runs", type=int, default=1000, help="simulated studies per rate (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=1000, help="sign flips per test, as the harness (1000)")
    args = parser.parse_args(argv)
    unknown = [s for s in args.studies if s not in STUDIES]
    if unknown or args.runs < 1 or args.resamples < 1:
        bad = f"study {unknown[0]!r}" if unknown else f"--runs {args.runs} / --resamples {args.resamples}"
        print(f"error: {bad} is not allowed; allowed: studies {', '.join(STUDIES)}, counts >= 1", file=sys.stderr)
        sys.exit(2)
    # The verdicts read the tests' p-values only: the intervals beside them are not computed (min_n).
    options = BootstrapOptions(resamples=args.resamples, seed=0, min_n=10**6)
    for name in args.studies:  # each study's seeds by its place in STUDIES: the same alone or with others
        print("\n".join(study_lines(name, args.runs, args.seed, STUDIES.index(name), options)), flush=True)


if __name__ == "__main__":
    main()
