"""The end-to-end power of the bias claim in the toy world: the trend test read on rendered pictures and probe labels.

For each planted church-share law of a grid, `python -m harness.analysis.toy_power` runs the bias_vs_guidance design
R times with fresh seeds: the toy generator renders every 256 px image the bias probe reads, the toy CLIP labels
them through the bias scorer's own probe and control validation (one run per guidance value, as a sweep has), and
`harness.analysis.findings.findings` reads the labels as a sweep's report does. The share of "supported" verdicts is the
power on pictures (with nothing planted, the false "supported" rate), shown beside the design's stated power.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.findings import (
    SUPPORTED,
    DesignFloor,
    design_floor,
    findings,
    is_exploratory,
    samples_design,
    t_power,
)
from harness.analysis.power import (
    CHURCH_HIGH,
    CHURCH_ICC,
    CHURCH_LOW,
    CHURCH_SLOPE_SD,
    StudyDesign,
    curve_effect,
    verdict_rates,
)
from harness.config.schema import FindingConfig, SampleParams
from harness.io import write_atomic, write_parquet
from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import BiasConfig, ClipConfig
from harness.scorers.options import BootstrapOptions
from harness.scorers.probe import Validation, ZeroShotProbe
from harness.scorers.stats import proportion_interval
from harness.toy.generator import render_upsample
from harness.toy.scene import Scene, compose
from harness.toy.world import World

EXPERIMENT = "bias_vs_guidance"
# Replication r draws the seeds seed0 + r * seeds ...: clear of the sweep's own seeds (0 up) and of the toy
# CLIP's gate seeds (1,000,000 up); its training drew seeds at random below the gate's.
SEED0 = 2_000_000
GRID = ("none", "small", "medium", "large")
# The grid's law starts where the design's stated effect starts; "large" is the world's default law.
LARGE_AT_5 = World().church_share_at_5


@dataclass(frozen=True)
class Law:
    """A planted church-share law: `at_1` at guidance 1 rising linearly to `at_5` at 5, flat beyond."""

    name: str
    at_1: float
    at_5: float

    @property
    def world(self) -> World:
        return World(church_share_at_1=self.at_1, church_share_at_5=self.at_5)

    def shares(self, guidance: Sequence[float]) -> np.ndarray:
        world = self.world
        return np.array([world.church_share(g) for g in guidance])


@dataclass(frozen=True)
class ToyDesign:
    """The bias study as a sweep of `model=toy` runs it: study paraphrases and controls at every guidance value."""

    finding: FindingConfig
    note: str
    study: tuple[tuple[str, str], ...]  # (prompt_id, text) of the confirmatory paraphrases
    controls: tuple[tuple[str, str, str], ...]  # (prompt_id, text, expected_class)
    guidance: tuple[float, ...]
    seeds: int
    sampler: SampleParams  # the sampler's pixel fields (guidance_scale is the swept one)
    clip: ClipConfig
    bias: BiasConfig

    @property
    def floor(self) -> DesignFloor:
        """What the plan states for this design (its prompts, values, power at `finding.effect`)."""
        prompts = [_Prompt() for _ in self.study]
        return design_floor(self.finding, prompts, len(self.guidance))

    def reduced(self, prompts: int | None, seeds: int | None, guidance: Sequence[float] | None) -> ToyDesign:
        """The first `prompts` paraphrases, `seeds` seeds, the given guidance values (None: as shipped)."""
        return ToyDesign(
            self.finding,
            self.note,
            self.study[: prompts or len(self.study)],
            self.controls,
            tuple(guidance or self.guidance),
            seeds or self.seeds,
            self.sampler,
            self.clip,
            self.bias,
        )


@dataclass(frozen=True)
class _Prompt:
    expected_class: None = None
    tags: None = None


def shipped_toy_design() -> ToyDesign:
    """`python -m harness -m +experiment=bias_vs_guidance model=toy`, composed and typed as its jobs are."""
    from harness.config.checks import probe_scorers
    from harness.config.compose import compose, typed_job

    overrides = [f"+experiment={EXPERIMENT}", "model=toy"]
    rc = typed_job(overrides)
    probe_scorers(rc)  # the suite's probe names the bias scorer's taxonomy and class of interest, as in a job
    prompts = rc.suite.prompts
    study = tuple((p.id, p.text) for p in prompts if not p.expected_class and not is_exploratory(p))
    controls = tuple((p.id, p.text, p.expected_class) for p in prompts if p.expected_class)
    swept = compose(overrides).hydra.sweeper.params["sampler.guidance_scale"]
    return ToyDesign(
        finding=rc.finding,
        note=str(rc.note),
        study=study,
        controls=controls,
        guidance=tuple(float(v) for v in str(swept).split(",")),
        seeds=rc.sampler.samples_per_prompt,
        sampler=SampleParams.of(rc.sampler),
        clip=rc.scorer.clip,
        bias=rc.scorer.bias,
    )


# --- the law in SD of the per-prompt slope ---------------------------------------------------------------------


def _rank_weights(k: int) -> np.ndarray:
    """c_k with slope = sum c_k y_k: the least-squares slope against the values' ranks, as the trend test reads."""
    ranks = np.arange(k, dtype=np.float64)
    return (ranks - ranks.mean()) / float(((ranks - ranks.mean()) ** 2).sum())


def mean_slope(shares: np.ndarray) -> float:
    """The per-prompt slope of the church share per step of the guidance ranks, without noise."""
    return _slope(_rank_weights(len(shares)), shares)


def _slope(weights: np.ndarray, shares: np.ndarray) -> float:
    # A flat law's weighted sum is rounding error (1e-17), not a slope: it is 0, and so is its effect.
    slope = float(weights @ shares)
    return slope if abs(slope) > 1e-12 else 0.0


def design_effect(shares: np.ndarray, seeds: int, icc: float = CHURCH_ICC, slope_sd: float = CHURCH_SLOPE_SD) -> float:
    """The law's effect in SD of the per-prompt slope under the design's stated noise model
    (`harness.analysis.power.curve_effect`); a flat law's is exactly 0."""
    return curve_effect(shares, seeds, icc, slope_sd) if mean_slope(shares) else 0.0


def world_effect(shares: np.ndarray, seeds: int) -> float:
    """The law's effect in SD of the per-prompt slope as the toy world draws it: one uniform die per (prompt, seed)
    at every guidance (church when it falls below the share), so a seed's church indicators are nested across
    guidance, Cov = min(q_j, q_k) - q_j q_k, and every paraphrase follows the same law. A perfect probe's view."""
    c = _rank_weights(len(shares))
    slope = _slope(c, shares)
    cov = np.minimum.outer(shares, shares) - np.outer(shares, shares)
    variance = float(c @ cov @ c) / seeds
    return slope / math.sqrt(variance) if slope else 0.0


def grid_law(name: str, guidance: Sequence[float]) -> Law:
    """A named point of the grid. `medium` plants the stated effect: the toy law whose mean per-prompt slope over
    the design's guidance ranks equals the design's (CHURCH_LOW to CHURCH_HIGH, linear over the ranks); `small`
    half its rise; `large` the world's default law; `none` a flat share."""
    if name == "none":
        return Law(name, CHURCH_LOW, CHURCH_LOW)
    if name == "large":
        return Law(name, CHURCH_LOW, LARGE_AT_5)
    unit = mean_slope(Law("unit", 0.0, 1.0).shares(guidance))
    rise = (CHURCH_HIGH - CHURCH_LOW) / (len(guidance) - 1) / unit
    return Law(name, CHURCH_LOW, CHURCH_LOW + (rise if name == "medium" else rise / 2))


def parse_law(text: str, guidance: Sequence[float]) -> Law:
    """A grid name, or AT1:AT5 (church shares at guidance 1 and 5)."""
    if text in GRID:
        return grid_law(text, guidance)
    at_1, _, at_5 = text.partition(":")
    law = Law(text, float(at_1), float(at_5))
    World.from_options({"church_share_at_1": law.at_1, "church_share_at_5": law.at_5})  # refuses a share outside [0, 1]
    return law


# --- one replication: render, label, read ---------------------------------------------------------------------


def _picture_key(scene: Scene) -> str:
    """What the picture is drawn from: the scene without the guidance scale and the planted probabilities, which
    the renderer never reads. Equal keys render equal pixels (the same dice and the same things drawn)."""
    record = scene.as_record()
    del record["guidance_scale"], record["planted"]
    return json.dumps(record, sort_keys=True)


class ProbeLabels:
    """The bias scorer's probe on the toy CLIP: 256 px images written as PNG (as the store writes them, pixels
    unchanged), read back through ZeroShotProbe.probabilities, the predicted class the argmax (bias.pred)."""

    def __init__(self, design: ToyDesign, folder: Path) -> None:
        self.probe = ZeroShotProbe(design.bias.load_taxonomy(), ClipEncoder(design.clip, cache_dir=None, device="cpu"))
        self.folder = folder
        self.count = 0

    @property
    def class_ids(self) -> tuple[str, ...]:
        return self.probe.taxonomy.class_ids

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        from PIL import Image

        rows = []
        for image in images:
            self.count += 1
            path = self.folder / f"{self.count % 4096}.png"
            Image.fromarray(image).save(path, compress_level=0)  # lossless at any level; zlib was most of the time
            rows.append({"path_256": str(path), "key": f"toy-power-{self.count}"})
        probs = self.probe.probabilities(pd.DataFrame(rows))
        return probs.argmax(axis=1)


@dataclass(frozen=True)
class Replication:
    """One bias study's outcome: its verdict, whether the probe validated at every guidance value, the drawn
    and the probe's church counts of the study images per guidance value, and what findings saw."""

    verdict: str
    validated: bool
    drawn_church: np.ndarray  # per guidance: study images the scene drew a church for
    ambiguous: np.ndarray  # per guidance: study images drawn from an ambiguous religious phrase
    probe_church: np.ndarray  # per guidance: study images the probe labels church
    images: int  # per guidance: study images
    rendered: int  # distinct pictures rendered and labelled
    seen: str  # what findings read: its prompts and values


def _render(design: ToyDesign, world: World, seeds: range, labels: ProbeLabels) -> pd.DataFrame:
    """Every (prompt, seed, guidance) of the study and its controls, each distinct picture rendered and labelled
    once: a seed whose dice draw the same thing at two guidance values shows the same pixels at both."""
    rows, pictures, index = [], [], {}
    prompts = [(pid, text, None) for pid, text in design.study] + list(design.controls)
    for pid, text, expected in prompts:
        for seed in seeds:
            for g in design.guidance:
                scene = compose(text, seed, design.sampler.guidance, g, world)
                key = _picture_key(scene)
                if key not in index:
                    index[key] = len(pictures)
                    image, _ = render_upsample(text, seed, replace(design.sampler, guidance_scale=g), world)
                    pictures.append(image)
                religious = [i.cls for i in scene.items if i.named == "religious"]
                rows.append(
                    {
                        "prompt_id": pid,
                        "seed": seed,
                        "guidance_scale": g,
                        "expected_class": expected,
                        "picture": index[key],
                        "drawn_class": religious[0] if religious else None,
                    }
                )
    frame = pd.DataFrame(rows)
    predicted = labels(pictures)
    frame["bias.pred"] = [labels.class_ids[i] for i in predicted[frame["picture"].to_numpy()]]
    return frame


def _runs(design: ToyDesign, frame: pd.DataFrame, class_ids: tuple[str, ...]) -> list[dict]:
    """One run per guidance value, as a sweep has: the probe validated on that run's own control images."""
    interest = design.bias.class_of_interest
    runs = []
    for g in design.guidance:
        controls = frame[(frame["guidance_scale"] == g) & frame["expected_class"].notna()]
        expected = np.array([class_ids.index(c) for c in controls["expected_class"]])
        predicted = np.array([class_ids.index(c) for c in controls["bias.pred"]])
        index = None if interest is None else class_ids.index(interest)
        validation = Validation.of(expected, predicted, class_ids, design.bias.level, index)
        runs.append(
            {
                "metrics": validation.metrics("bias"),
                "overrides": {"sampler.guidance_scale": g},
                "config": {"scorer.bias.class_of_interest": interest},
            }
        )
    return runs


def replicate(design: ToyDesign, law: Law, replication: int, labels: ProbeLabels, seed0: int = SEED0) -> Replication:
    """One bias study of `design` in the world of `law`, on the seeds of `replication`."""
    seeds = range(seed0 + replication * design.seeds, seed0 + (replication + 1) * design.seeds)
    frame = _render(design, law.world, seeds, labels)
    runs = _runs(design, frame, labels.class_ids)
    samples = frame.drop(columns=["picture", "drawn_class"])
    (row,) = findings(design.finding, design.note, samples=samples, runs=runs, random_weights=False)
    seen = samples_design(design.finding, samples, "guidance_scale")
    study = frame[frame["expected_class"].isna()]
    by_g = study.groupby("guidance_scale")
    return Replication(
        verdict=row.verdict,
        validated=all(run["metrics"]["bias/validated"] == 1.0 for run in runs),
        drawn_church=by_g["drawn_class"].apply(lambda c: int((c == "church").sum())).to_numpy(),
        ambiguous=by_g["drawn_class"].apply(lambda c: int(c.notna().sum())).to_numpy(),
        probe_church=by_g["bias.pred"].apply(lambda c: int((c == "church").sum())).to_numpy(),
        images=int(len(study) / len(design.guidance)),
        rendered=int(frame["picture"].nunique()),
        seen=f"{seen.n_prompts} prompts x {samples['guidance_scale'].nunique()} values",
    )


# --- the grid ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointResult:
    """A grid point's replications and the design's stated power at its effect."""

    law: Law
    replications: list[Replication]
    design_effect: float
    world_effect: float
    t_power: float  # the noncentral t power the plan states at design_effect
    simulated: float  # harness.analysis.power's simulated power (false "supported" rate with nothing planted)
    simulated_runs: int
    seconds: float


def stated_power(design: ToyDesign, law: Law, runs: int, seed: int) -> tuple[float, float, float, float]:
    """(design effect, world effect, the plan's t power, harness.analysis.power's simulated rate) at the law's effect.
    The simulation plants the same mean per-prompt slope (a rise of slope x (values - 1) over the ranks)."""
    shares = law.shares(design.guidance)
    d_design, d_world = design_effect(shares, design.seeds), world_effect(shares, design.seeds)
    n, alpha = len(design.study), design.finding.alpha
    power = t_power(d_design, n, n - 1, alpha, two_sided=False) if d_design else alpha
    points = tuple(str(g) for g in design.guidance)
    study = StudyDesign(EXPERIMENT, design.finding, n, points, design.seeds)
    rise = mean_slope(shares) * (len(points) - 1)
    rates = verdict_rates(study, rise, runs, seed, BootstrapOptions(seed=0, min_n=10**6))
    simulated = rates.all_supported if rise else rates.any_supported
    return d_design, d_world, power, simulated


def run_grid(
    design: ToyDesign,
    laws: Sequence[Law],
    replications: int,
    *,
    seed: int = 0,
    simulated_runs: int = 1000,
    progress: bool = True,
) -> list[PointResult]:
    """Every law of the grid, `replications` studies each; each point on its own seeds (fresh per replication)."""
    from tqdm.auto import tqdm

    out = []
    with tempfile.TemporaryDirectory() as folder:
        labels = ProbeLabels(design, Path(folder))
        for p, law in enumerate(laws):
            started = time.monotonic()
            seed0 = SEED0 + (seed * len(laws) + p) * replications * design.seeds
            bar = tqdm(range(replications), desc=f"{law.name} {law.at_1:.3g}->{law.at_5:.3g}", disable=not progress)
            reps = [replicate(design, law, r, labels, seed0) for r in bar]
            seconds = time.monotonic() - started
            effects = stated_power(design, law, simulated_runs, seed * 1000 + p)
            out.append(PointResult(law, reps, *effects, simulated_runs, seconds))
    return out


def _binomial(k: int, n: int) -> tuple[float, float, float]:
    """The rate, its simulation SE and its 95% Clopper-Pearson interval."""
    low, high = proportion_interval(k, n, 0.95)
    return k / n, math.sqrt(max(k * (n - k), 0) / n**3), (float(low), float(high))


def summary(results: Sequence[PointResult], design: ToyDesign) -> pd.DataFrame:
    """One row per grid point: the law, its effects, the end-to-end rate with its simulation error beside the
    stated power, and a binomial test of the rate against the plan's power (against alpha with nothing planted)."""
    from scipy.stats import binomtest

    rows = []
    for res in results:
        reps, n = res.replications, len(res.replications)
        k = sum(r.verdict == SUPPORTED for r in reps)
        rate, se, (low, high) = _binomial(k, n)
        null = res.law.at_1 == res.law.at_5
        reference = design.finding.alpha if null else res.t_power
        test = binomtest(k, n, reference, alternative="greater" if null else "two-sided")
        sim_se = math.sqrt(res.simulated * (1 - res.simulated) / res.simulated_runs)
        drawn = np.sum([r.drawn_church for r in reps], axis=0) / np.sum([r.ambiguous for r in reps], axis=0)
        probe = np.sum([r.probe_church for r in reps], axis=0) / sum(r.images for r in reps)
        verdicts = pd.Series([r.verdict for r in reps])
        rows.append(
            {
                "law": res.law.name,
                "church_share_at_1": res.law.at_1,
                "church_share_at_5": res.law.at_5,
                "mean_slope": mean_slope(res.law.shares(design.guidance)),
                "effect_design_sd": res.design_effect,
                "effect_world_sd": res.world_effect,
                "replications": n,
                "supported": k,
                "rate": rate,
                "rate_se": se,
                "rate_ci_low": low,
                "rate_ci_high": high,
                "validated": sum(r.validated for r in reps) / n,
                "stated_t_power": res.t_power,
                "world_t_power": world_t_power(res.world_effect, design),
                "simulated_power": res.simulated,
                "simulated_se": sim_se,
                "diff_vs_simulated": rate - res.simulated,
                "diff_se": math.sqrt(se**2 + sim_se**2),
                "p_vs_stated": float(test.pvalue),
                "drawn_church_share": json.dumps([round(float(v), 4) for v in drawn]),
                "probe_church_share": json.dumps([round(float(v), 4) for v in probe]),
                "planted_church_share": json.dumps([round(float(v), 4) for v in res.law.shares(design.guidance)]),
                "verdicts": json.dumps({v: int(c) for v, c in verdicts.value_counts().items()}),
                "findings_saw": sorted({r.seen for r in reps})[0] if reps else "",
                "rendered_per_study": float(np.mean([r.rendered for r in reps])),
                "seconds": res.seconds,
            }
        )
    return pd.DataFrame(rows)


def world_t_power(effect_world_sd: float, design: ToyDesign) -> float:
    """The plan's noncentral t power at the law's effect in the world's own SD (its paired dice, one law for every
    paraphrase, a perfect probe): what the design would promise if it knew the world's noise."""
    n, alpha = len(design.study), design.finding.alpha
    return t_power(effect_world_sd, n, n - 1, alpha, two_sided=False) if effect_world_sd else alpha


def replications_table(results: Sequence[PointResult]) -> pd.DataFrame:
    rows = [
        {"law": res.law.name, "replication": i, "verdict": r.verdict, "validated": r.validated, "rendered": r.rendered}
        for res in results
        for i, r in enumerate(res.replications)
    ]
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, design: ToyDesign) -> str:
    """The summary as a markdown table."""
    head = (
        "| law | church share at 1 -> 5 | effect (design SD) | effect (world SD) | supported | end-to-end rate "
        "[95% CP] | plan's t power | simulated (harness.analysis.power) | t power at the world's SD | validated |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for _, row in table.iterrows():
        null = row["church_share_at_1"] == row["church_share_at_5"]
        stated = f"alpha {design.finding.alpha:g}" if null else f"{row['stated_t_power']:.2f}"
        lines.append(
            f"| {row['law']} | {row['church_share_at_1']:.3f} -> {row['church_share_at_5']:.3f} "
            f"| {row['effect_design_sd']:.2f} | {row['effect_world_sd']:.2f} "
            f"| {row['supported']}/{row['replications']} "
            f"| {row['rate']:.3f} ± {row['rate_se']:.3f} [{row['rate_ci_low']:.3f}, {row['rate_ci_high']:.3f}] "
            f"| {stated} | {row['simulated_power']:.3f} ± {row['simulated_se']:.3f} "
            f"| {row['world_t_power']:.3f} | {row['validated']:.2f} |"
        )
    return head + "\n".join(lines) + "\n"


def figure(table: pd.DataFrame, design: ToyDesign, path: Path) -> None:
    """The plan's power curve (noncentral t against the effect in SD of the per-prompt slope), the end-to-end
    rate (95% Clopper-Pearson bar) at the law's effect in the world's own SD, and the simulated design at its
    effect in the design's SD: each at the SD its test faces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = table["effect_world_sd"].to_numpy()
    x_design = table["effect_design_sd"].to_numpy()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    rate = table["rate"].to_numpy()
    err = np.vstack([rate - table["rate_ci_low"], table["rate_ci_high"] - rate])
    ax.errorbar(x, rate, yerr=err, fmt="o", capsize=4, label="end to end (toy renders + toy CLIP), world SD, 95% CP")
    ax.errorbar(
        x_design,
        table["simulated_power"],
        yerr=1.96 * table["simulated_se"],
        fmt="s",
        capsize=3,
        label="simulated design (harness.analysis.power), design SD",
    )
    grid = np.linspace(0, max(float(x.max()), 1.0) * 1.05, 200)
    n, alpha = len(design.study), design.finding.alpha
    power = [t_power(d, n, n - 1, alpha, two_sided=False) for d in grid]
    ax.plot(grid, power, "k--", lw=1, label="plan's noncentral t")
    ax.axhline(0.8, color="grey", lw=0.5)
    ax.axhline(alpha, color="grey", lw=0.5, ls=":")
    for xi, yi, name in zip(x, rate, table["law"], strict=True):
        ax.annotate(name, (xi, yi), textcoords="offset points", xytext=(6, -12), fontsize=7)
    ax.set_xlabel("planted effect, SD of the per-prompt slope its test faces")
    ax.set_ylabel('share of studies "supported"')
    ax.set_ylim(-0.03, 1.05)
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


# --- command line -----------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """A usage error is one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m harness.analysis.toy_power", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for toy_power.parquet, .md and .png")
    parser.add_argument("--figure", type=Path, help="also write the plot here (e.g. docs/images/toy-power.png)")
    parser.add_argument("--laws", nargs="+", default=list(GRID), help=f"grid names ({', '.join(GRID)}) or AT1:AT5")
    parser.add_argument("--replications", default="50", help="studies per law (50)")
    parser.add_argument("--seed", default="0", help="picks the replications' seeds")
    parser.add_argument("--prompts", default="0", help="first N paraphrases only (0: all of the design)")
    parser.add_argument("--seeds", default="0", help="seeds per prompt and guidance value (0: the design's)")
    parser.add_argument("--guidance", default="", help="comma list of guidance values (default: the design's)")
    parser.add_argument("--simulated-runs", default="1000", help="harness.analysis.power studies per law (1000)")
    return parser.parse_args(argv)


def _count(name: str, text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        _refuse(f"{name} {text!r} is not allowed; allowed: an integer >= {least}")
    return value


def _refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _arguments(args: argparse.Namespace, shipped: ToyDesign) -> tuple[ToyDesign, list[Law]]:
    """The design and the laws the arguments ask for; a bad value is one line and exit 2."""
    for name, least in (("replications", 1), ("seed", 0), ("simulated_runs", 1)):
        setattr(args, name, _count(f"--{name.replace('_', '-')}", getattr(args, name), least))
    prompts = _count("--prompts", args.prompts, 0)
    seeds = _count("--seeds", args.seeds, 0)
    if prompts > len(shipped.study):
        _refuse(f"--prompts {prompts} is not allowed; allowed: 0 to {len(shipped.study)} (the design's paraphrases)")
    guidance = None
    if args.guidance:
        try:
            guidance = sorted({float(v) for v in args.guidance.split(",")})
        except ValueError:
            guidance = []
        if len(guidance) < 2 or guidance[0] <= 0:
            _refuse(
                f"--guidance {args.guidance!r} is not allowed; allowed: two or more distinct scales > 0, e.g. 1,3,5"
            )
    design = shipped.reduced(prompts, seeds, guidance)
    laws = []
    for text in args.laws:
        try:
            laws.append(parse_law(text, design.guidance))
        except Exception:
            _refuse(f"--laws {text!r} is not allowed; allowed: {', '.join(GRID)} or AT1:AT5 with shares in [0, 1]")
    return design, laws


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    shipped = shipped_toy_design()
    design, laws = _arguments(args, shipped)
    import torch

    torch.set_num_threads(1)
    started = time.monotonic()
    results = run_grid(design, laws, args.replications, seed=args.seed, simulated_runs=args.simulated_runs)
    table = summary(results, design)
    args.out.mkdir(parents=True, exist_ok=True)
    write_parquet(args.out / "toy_power.parquet", table)
    write_parquet(args.out / "toy_power_replications.parquet", replications_table(results))
    text = markdown(table, design)
    write_atomic(args.out / "toy_power.md", text.encode())
    for path in [args.out / "toy_power.png", *([args.figure] if args.figure else [])]:
        figure(table, design, path)
    print(text, end="")
    print(
        f"{len(design.study)} paraphrases x {len(design.guidance)} guidance values x {design.seeds} seeds "
        f"(+ {len(design.controls)} controls); findings saw {table['findings_saw'].iloc[0]}; "
        f"{args.replications} replications per law in {time.monotonic() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
