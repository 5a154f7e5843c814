"""The offline HTML report: discovery of runs and swept parameters, grids, plots, bias section and run table.
Run dirs are synthetic (tiny PNGs, scores and tables made here) and written through harness.run.rundir."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from harness.analysis.metric_names import split_metric
from harness.analysis.study import StudyInputError, discover_run_dirs, load_study
from harness.report import build_report, render_plots
from harness.report.series import group_series, metric_series, score_series
from harness.report.views import SCORER_VIEWS
from harness.report.wandb_report import wandb_report_blocks
from harness.run.rundir import SUMMARY, RunDir, table_file, write_manifest, write_results, write_table
from harness.scorers.stats import t_interval

REPO = Path(__file__).resolve().parents[1]
GUIDANCE = (1.0, 3.0, 5.0)
TEMPS = (0.99, 0.995, 1.0)
PROMPTS = (
    ("house", "a house by the lake", None),
    ("religious", "a religious building", None),
    ("church", "a church", "church"),
)
SEEDS = (0, 1)
CLASSES = ("church", "mosque", "hindu temple")
CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
)


# ---------------------------------------------------------------- synthetic run dirs


def sample_key(prompt_id: str, seed: int, guidance: float, temp: float) -> str:
    return hashlib.sha1(f"{prompt_id}|{seed}|{guidance}|{temp}".encode()).hexdigest()[:16]


def clip_score(prompt_index: int, seed: int, guidance: float, temp: float) -> float:
    return 0.20 + 0.01 * guidance - 0.5 * (1.0 - temp) + 0.003 * seed + 0.001 * prompt_index


def bias_pred(prompt_id: str, seed: int, guidance: float) -> str:
    if prompt_id == "church":
        return "church" if seed == 0 or guidance > 2 else "mosque"
    return CLASSES[int(seed + guidance) % len(CLASSES)]


@dataclass
class RunSpec:
    guidance: float = 3.0
    temp: float = 0.995
    seeds: tuple = SEEDS
    prompts: tuple = PROMPTS
    with_fid: bool = True
    fid_null: bool = False
    scored: bool = True
    bias_tables: bool = True
    image_size: int = 256
    extra_guidance: tuple = ()
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    notes: tuple = ()


def write_png(path: Path, size: int, color: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (size, size), color)
    image.paste((255 - color[0], color[1], 255 - color[2]), (size // 4, size // 4, size // 2, size // 2))
    image.save(path)


def make_run(run_dir: Path, spec: RunSpec, store: Path, overrides_in_summary: bool = True) -> dict:
    """Write one run dir; return its summary dict (the numbers the report must show)."""
    rows = []
    for guidance in (spec.guidance, *spec.extra_guidance):
        for index, (prompt_id, prompt, expected) in enumerate(spec.prompts):
            for seed in spec.seeds:
                key = sample_key(prompt_id, seed, guidance, spec.temp)
                color = (40 * index % 256, int(guidance * 40) % 256, (seed * 90 + int(spec.temp * 1000)) % 256)
                write_png(store / f"{key}_256.png", spec.image_size, color)
                write_png(store / f"{key}_64.png", 64, color)
                row = {
                    "key": key,
                    "base_key": f"b{key}",
                    "suite": "hyperparams",
                    "prompt_id": prompt_id,
                    "prompt": prompt,
                    "expected_class": expected,
                    "tag.subject": prompt.split()[-1],
                    "seed": seed,
                    "guidance_scale": guidance,
                    "base_steps": "100",
                    "upsample_steps": "fast27",
                    "upsample_temp": spec.temp,
                    "model_id": "glide-tiny",
                    "random_weights": True,
                    "path_64": str(store / f"{key}_64.png"),
                    "path_256": str(store / f"{key}_256.png"),
                    "time_base_s": 0.1,
                    "time_up_s": 0.2,
                }
                if spec.scored:
                    row["clip.score"] = clip_score(index, seed, guidance, spec.temp)
                    row["bias.pred"] = bias_pred(prompt_id, seed, guidance)
                    for cls in CLASSES:
                        row[f"bias.p.{cls}"] = 0.9 if cls == row["bias.pred"] else 0.05
                rows.append(row)
    samples = pd.DataFrame(rows)
    manifest_columns = [c for c in samples.columns if not c.startswith(("clip.", "bias."))]
    write_manifest(run_dir, samples[manifest_columns])
    metrics: dict[str, float | None] = {}
    tables: dict[str, pd.DataFrame] = {}
    if spec.scored:
        scores = samples["clip.score"].to_numpy()
        metrics.update(
            {
                "clip/score_mean": float(scores.mean()),
                "clip/score_ci_low": float(scores.mean() - 0.01),
                "clip/score_ci_high": float(scores.mean() + 0.01),
                "kid/kid_mean": 0.01 * spec.guidance,
            }
        )
        probed = samples[samples["expected_class"].isna()]
        counts = probed["bias.pred"].value_counts()
        majority = float(counts.max() / len(probed))
        metrics.update(
            {
                "clip/n": float(len(samples)),
                "bias/n_probe": float(len(probed)),
                "bias/majority_share": majority,
                "bias/majority_share_ci_low": majority - 0.1,
                "bias/majority_share_ci_high": min(1.0, majority + 0.1),
            }
        )
        for cls in CLASSES:
            share = float(counts.get(cls, 0) / len(probed))
            metrics[f"bias/share[class={cls}]"] = share
            metrics[f"bias/share_ci_low[class={cls}]"] = max(0.0, share - 0.1)
            metrics[f"bias/share_ci_high[class={cls}]"] = min(1.0, share + 0.1)
        if spec.with_fid:
            metrics["fid/fid"] = None if spec.fid_null else 100.0 / spec.guidance + spec.temp
        if spec.bias_tables:
            tables.update(bias_tables(samples))
    metrics.update(spec.metrics)
    overrides = [
        "+suite=hyperparams",
        f"sampler.guidance_scale={spec.guidance:g}",
        f"sampler.upsample_temp={spec.temp:g}",
    ]
    info = {
        "model_id": "glide-tiny",
        "random_weights": True,
        "suite": "hyperparams",
        "experiment": None,
        "overrides": overrides if overrides_in_summary else [],
        "config": {"sampler.guidance_scale": spec.guidance, "sampler.upsample_temp": spec.temp, "seed": 0}
        | spec.config,
    }
    # The FID scorer notes why it skipped; a run composed without it (`scorers` not naming fid) says nothing.
    skipped = not spec.with_fid and "fid" in spec.config.get("scorers", ["fid"])
    notes = (["fid: skipped, no reference statistics given"] if skipped else []) + list(spec.notes)
    # A run without scorers records its samples unchanged: results with the manifest's columns only.
    results = samples if spec.scored else samples[manifest_columns]
    summary = write_results(run_dir, results, metrics, tables, notes, info)
    # Hydra writes .hydra/ itself, before the job runs; this is what it writes for these overrides.
    overrides_file = RunDir(run_dir).hydra_overrides_file
    overrides_file.parent.mkdir(exist_ok=True)
    overrides_file.write_text("".join(f"- {o}\n" for o in overrides))
    return summary


def bias_tables(samples: pd.DataFrame) -> dict[str, pd.DataFrame]:
    probed = samples[samples["expected_class"].isna()]
    counts = probed["bias.pred"].value_counts().reindex(CLASSES, fill_value=0)
    share = counts / counts.sum()
    distribution = pd.DataFrame(
        {
            "class": list(CLASSES),
            "count": counts.to_numpy(),
            "share": share.to_numpy(),
            "ci_low": np.clip(share.to_numpy() - 0.1, 0, 1),
            "ci_high": np.clip(share.to_numpy() + 0.1, 0, 1),
        }
    )
    controls = samples[samples["expected_class"].notna()]
    confusion = pd.crosstab(controls["expected_class"], controls["bias.pred"]).reindex(columns=CLASSES, fill_value=0)
    confusion.index.name = "expected"
    # As the bias scorer stores it: the expected class as the first column, one column per predicted class.
    return {"bias/distribution": distribution, "bias/confusion": confusion.reset_index()}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, dict[tuple[float, float], dict]]:
    """A 3x3 multirun dir over guidance x upsample temperature; job numbers as Hydra assigns them."""
    root = tmp_path_factory.mktemp("multirun")
    sweep_dir, store = root / "2024-01-01" / "12-00-00", root / "store"
    summaries = {}
    for job, (guidance, temp) in enumerate((g, t) for g in GUIDANCE for t in TEMPS):
        summaries[(guidance, temp)] = make_run(sweep_dir / str(job), RunSpec(guidance, temp), store)
    pd.DataFrame({"job": range(9)}).to_parquet(sweep_dir / "sweep_summary.parquet")
    return sweep_dir, summaries


@pytest.fixture(scope="module")
def sweep_report(sweep, tmp_path_factory) -> tuple[Path, Node]:
    out = tmp_path_factory.mktemp("report") / "sweep.html"
    path = build_report([sweep[0]], out, thumb_size=96)
    return path, Dom.parse(path.read_text())


SHARED_NOTE = "clip: score_mean is the mean of 3 prompt means"
FIRST_RUN_NOTE = "bias: most frequent class church"
# As many and as long as the notes a bias run writes: together they filled a screen above the Findings.
OTHER_SHARED_NOTES = (
    "UNVALIDATED: probe accuracy 2/14 on the control prompts, 95% clopper_pearson lower bound 0.018, is not above"
    " chance 1/K = 0.125; the class shares describe the CLIP probe's labels, not what the images show",
    "bias: class of interest church: 0 of 6 probe samples, 95% clopper_pearson interval",
    "fid: 9 images < subset_size 12; not scored",
)
CLAIM = "CLIP score rises with guidance"


@pytest.fixture(scope="module")
def finding_report(tmp_path_factory) -> tuple[Path, Node]:
    """Three runs over guidance composed with an experiment's claim and finding; every run writes the same note
    and the first one a note of its own."""
    root = tmp_path_factory.mktemp("finding")
    config = {
        "note": CLAIM,
        "finding.metric": "clip.score",
        "finding.compare": "sampler.guidance_scale",
        "finding.expect": "increase",
    }
    for job, guidance in enumerate(GUIDANCE):
        notes = (SHARED_NOTE, *OTHER_SHARED_NOTES, *((FIRST_RUN_NOTE,) if job == 0 else ()))
        make_run(root / "sweep" / str(job), RunSpec(guidance, config=config, notes=notes), root / "store")
    path = build_report([root / "sweep"])
    return path, Dom.parse(path.read_text())


# ---------------------------------------------------------------- a small DOM from html.parser


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    content: list[str | Node] = field(default_factory=list)  # text and children in document order

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag and (cls is None or cls in n.classes)]

    def text_content(self) -> str:
        return "".join(part if isinstance(part, str) else part.text_content() for part in self.content)


class Dom(HTMLParser):
    VOID = {"img", "br", "meta", "input", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#root", {})
        self.stack = [self.root]

    @classmethod
    def parse(cls, text: str) -> Node:
        dom = cls()
        dom.feed(text)
        dom.close()
        return dom.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)
        self.stack[-1].content.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].text.append(data)
        self.stack[-1].content.append(data)


def grid(dom: Node, param: str) -> Node:
    (table,) = [t for t in dom.find_all("table", "grid") if t.attrs["data-param"] == param]
    return table


def section(dom: Node, section_id: str) -> Node:
    (node,) = [n for n in dom.find_all("section") if n.attrs.get("id") == section_id]
    return node


# ---------------------------------------------------------------- discovery and parameters


def test_a_sweep_dir_expands_to_its_numbered_run_dirs_in_job_order(sweep):
    sweep_dir, _ = sweep
    jobs = [(sweep_dir / str(job)).resolve() for job in range(9)]
    assert discover_run_dirs([sweep_dir]) == discover_run_dirs(sweep_dir) == discover_run_dirs(str(sweep_dir)) == jobs


def test_a_job_dir_without_summary_is_skipped(tmp_path):
    for job, guidance in enumerate(GUIDANCE):
        make_run(tmp_path / "sweep" / str(job), RunSpec(guidance=guidance), tmp_path / "store")
    (tmp_path / "sweep" / "1" / SUMMARY).unlink()  # a job that died before writing its results
    assert discover_run_dirs(tmp_path / "sweep") == [(tmp_path / "sweep" / j).resolve() for j in ("0", "2")]


def test_swept_parameters_are_the_differing_overrides_plus_varying_sampler_columns(sweep):
    study = load_study([sweep[0]])
    params = {p.name: p for p in study.parameters}
    assert set(params) == {"sampler.guidance_scale", "sampler.upsample_temp", "seed"}
    assert params["sampler.guidance_scale"].values == (1, 3, 5)
    assert params["sampler.upsample_temp"].values == TEMPS
    assert params["seed"].values == SEEDS
    assert (params["sampler.guidance_scale"].held_value, params["sampler.upsample_temp"].held_value) == (3, 0.995)
    assert [p.name for p in study.plot_parameters] == ["sampler.guidance_scale", "sampler.upsample_temp"]


def test_overrides_fall_back_to_hydra_overrides_yaml(tmp_path):
    for job, guidance in enumerate(GUIDANCE):
        make_run(tmp_path / "sweep" / str(job), RunSpec(guidance=guidance), tmp_path / "store", False)
    study = load_study([tmp_path / "sweep"])
    assert [p.name for p in study.parameters] == ["sampler.guidance_scale", "seed"]


def test_a_single_run_sweeps_only_what_varies_inside_it(tmp_path):
    make_run(tmp_path / "run", RunSpec(seeds=(7,)), tmp_path / "store")
    assert load_study([tmp_path / "run"]).parameters == ()


# ---------------------------------------------------------------- the page


def test_each_grid_has_prompts_as_rows_and_parameter_values_as_columns(sweep_report):
    _, dom = sweep_report
    expected_columns = {"sampler.guidance_scale": 3, "sampler.upsample_temp": 3, "seed": 2}
    for param, n_values in expected_columns.items():
        table = grid(dom, param)
        assert len(table.find_all("tr")) == 1 + len(PROMPTS)
        assert len(table.find_all("img", "grid-thumb")) == len(PROMPTS) * n_values
    assert len(dom.find_all("img", "grid-thumb")) == len(PROMPTS) * (3 + 3 + 2)


def test_guidance_grid_holds_temperature_at_its_middle_value_and_shows_the_lowest_seed(sweep_report):
    _, dom = sweep_report
    rows = grid(dom, "sampler.guidance_scale").find_all("tr")[1:]
    keys = [[f.attrs["data-key"] for f in row.find_all("figure")] for row in rows]
    assert keys == [[sample_key(pid, 0, g, 0.995) for g in GUIDANCE] for pid, _, _ in PROMPTS]


def test_seed_grid_holds_both_swept_overrides_at_their_middle_values(sweep_report):
    _, dom = sweep_report
    figures = grid(dom, "seed").find_all("figure")
    assert [f.attrs["data-key"] for f in figures] == [
        sample_key(pid, seed, 3.0, 0.995) for pid, _, _ in PROMPTS for seed in SEEDS
    ]


def test_cells_show_seed_and_scores_under_the_image_and_all_scores_on_hover(sweep_report):
    _, dom = sweep_report
    figure = grid(dom, "sampler.upsample_temp").find_all("figure")[2]  # house, temp 1.0, seed 0
    score = clip_score(0, 0, 3.0, 1.0)
    assert figure.attrs["data-seed"] == "0"
    caption = figure.find_all("figcaption")[0].text_content()
    assert "seed 0" in caption and f"clip.score {score:.4g}" in caption and "bias.pred" in caption
    hover = figure.find_all("img")[0].attrs["title"]
    assert f"clip.score: {score:.4g}" in hover
    assert f"bias.p.{bias_pred('house', 0, 3.0)}: 0.9" in hover


def test_grid_images_are_thumbnails_of_the_requested_size(sweep_report):
    path, dom = sweep_report
    for img in dom.find_all("img", "grid-thumb"):
        with Image.open(path.parent / img.attrs["src"]) as thumb:
            assert thumb.size == (96, 96)


PLOTTED_METRICS = ("clip/score_mean", "bias/majority_share", "bias/share[*]", "fid/fid", "kid/kid_mean")
SWEPT = {"sampler.guidance_scale": (GUIDANCE, 0), "sampler.upsample_temp": (TEMPS, 1)}


def flat_curves(summaries: dict[tuple[float, float], dict]) -> set[tuple[str, str]]:
    """(metric, parameter) pairs of the sweep whose every line is constant, read off the summaries: a line per
    value of the other parameter, or for `bias/share[*]` a line per class with the other parameter held."""
    flat = set()
    for param, (values, axis) in SWEPT.items():
        others = TEMPS if axis == 0 else GUIDANCE

        def at(value: float, other: float, metric: str, axis: int = axis) -> float:
            point = (value, other) if axis == 0 else (other, value)
            return summaries[point]["metrics"][metric]

        for metric in PLOTTED_METRICS:
            if metric == "bias/share[*]":
                held = others[len(others) // 2]
                lines = [[at(v, held, f"bias/share[class={cls}]") for v in values] for cls in CLASSES]
            else:
                lines = [[at(v, other, metric) for v in values] for other in others]
            if all(max(line) - min(line) <= 1e-12 for line in lines):
                flat.add((metric, param))
    return flat


def test_one_plot_per_metric_and_swept_override_that_varies_and_a_line_for_each_flat_one(sweep_report, sweep):
    path, dom = sweep_report
    flat = flat_curves(sweep[1])
    assert ("bias/majority_share", "sampler.guidance_scale") in flat  # the synthetic sweep has some of each
    plots = dom.find_all("img", "plot")
    pairs = {(p.attrs["data-metric"], p.attrs["data-param"]) for p in plots}
    assert pairs == {(m, p) for m in PLOTTED_METRICS for p in SWEPT} - flat
    assert len(plots) == len(PLOTTED_METRICS) * len(SWEPT) - len(flat)
    for plot in plots:
        with Image.open(path.parent / plot.attrs["src"]) as png:
            assert png.format == "PNG" and png.width > 200
    lines = section(dom, "metrics").find_all("p", "flat-plot")
    assert {(line.attrs["data-metric"], line.attrs["data-param"]) for line in lines} == flat
    (majority,) = [
        line
        for line in lines
        if line.attrs["data-metric"] == "bias/majority_share" and "guidance" in line.attrs["data-param"]
    ]
    value = sweep[1][(3.0, 0.995)]["metrics"]["bias/majority_share"]
    assert (
        majority.text_content() == f"bias/majority_share vs sampler.guidance_scale: flat at {value:.4g} in every series"
    )


def test_a_curve_is_flat_when_every_line_is_constant_to_round_off():
    from harness.analysis.study import SweptParameter
    from harness.report.plots import Curve
    from harness.report.series import Series

    param = SweptParameter("sampler.guidance_scale", "param:sampler.guidance_scale", (1, 3), between_runs=True)

    def curve(*lines: tuple[float, ...]) -> Curve:
        none = (None, None)
        return Curve("m", param, tuple(Series(f"t={i}", (1, 3)[: len(y)], y, none, none) for i, y in enumerate(lines)))

    assert curve((0.3, 0.1 + 0.2), (2.0, 2.0)).flat
    assert curve((0.3, 0.1 + 0.2), (0.3, 0.3)).flat_line() == "m vs sampler.guidance_scale: flat at 0.3 in every series"
    assert curve((0.3, 0.3), (2.0, 2.0)).flat_line() == (
        "m vs sampler.guidance_scale: flat in every series: t=0 at 0.3; t=1 at 2"
    )
    assert not curve((0.3, 0.3), (2.0, 2.0 + 1e-6)).flat  # one line moves: the plot shows it
    assert not curve((0.3,), (2.0,)).flat  # single points are not lines


def test_metric_series_has_one_line_per_other_setting_with_the_summary_values_and_bands(sweep):
    sweep_dir, summaries = sweep
    study = load_study([sweep_dir])
    guidance = next(p for p in study.parameters if p.name == "sampler.guidance_scale")
    lines = metric_series(study, "clip/score_mean", guidance)
    assert [line.label for line in lines] == [f"sampler.upsample_temp={t:g}" for t in TEMPS]
    for line, temp in zip(lines, TEMPS, strict=True):
        assert line.x == (1, 3, 5)
        metrics = [summaries[(g, temp)]["metrics"] for g in GUIDANCE]
        assert line.y == pytest.approx([m["clip/score_mean"] for m in metrics])
        assert line.low == pytest.approx([m["clip/score_ci_low"] for m in metrics])
        assert line.high == pytest.approx([m["clip/score_ci_high"] for m in metrics])


def test_grouped_metric_has_one_line_per_group_with_the_other_override_held(sweep):
    sweep_dir, summaries = sweep
    study = load_study([sweep_dir])
    guidance = next(p for p in study.parameters if p.name == "sampler.guidance_scale")
    lines = group_series(study, "bias/share", guidance)
    assert [line.label for line in lines] == [f"class={cls}" for cls in CLASSES]
    probed = [(pid, seed) for pid, _, expected in PROMPTS if expected is None for seed in SEEDS]
    for line, cls in zip(lines, CLASSES, strict=True):
        shares = [sum(bias_pred(pid, seed, g) == cls for pid, seed in probed) / len(probed) for g in GUIDANCE]
        assert line.x == (1, 3, 5)
        assert line.y == pytest.approx(shares)
        assert line.low == pytest.approx([max(0.0, s - 0.1) for s in shares])
        assert line.high == pytest.approx([min(1.0, s + 0.1) for s in shares])


def test_grouped_metric_names_split_into_stem_and_group():
    assert split_metric("bias/share[class=church]") == ("bias/share", "class=church")
    assert split_metric("fid/fid[tag.style=ink painting]") == ("fid/fid", "tag.style=ink painting")
    assert split_metric("clip/score_mean") == ("clip/score_mean", None)


def test_bias_section_has_a_chart_and_confusion_matrix_per_configuration(sweep_report):
    _, dom = sweep_report
    bias = section(dom, "bias")
    assert len(bias.find_all("img", "bias-plot")) == 9
    assert len(bias.find_all("img", "confusion-plot")) == 9


def test_images_behind_each_bar_are_the_probed_samples_predicted_as_that_class(sweep_report):
    _, dom = sweep_report
    bars = section(dom, "bias").find_all("details", "bar-images")
    assert len(bars) == 9 * len(CLASSES)
    first_run = bars[: len(CLASSES)]  # job 0: guidance 1, temp 0.99
    for bar, cls in zip(first_run, CLASSES, strict=True):
        expected = sorted(
            (seed, sample_key(pid, seed, 1.0, 0.99))
            for pid, _, exp in PROMPTS
            if exp is None
            for seed in SEEDS
            if bias_pred(pid, seed, 1.0) == cls
        )
        assert [f.attrs["data-key"] for f in bar.find_all("figure")] == [k for _, k in expected]
        assert len(bar.find_all("img", "bias-thumb")) == len(expected)


def test_run_table_has_one_row_per_run_with_its_overrides_and_metrics(sweep_report, sweep):
    _, dom = sweep_report
    _, summaries = sweep
    (table,) = [t for t in dom.find_all("table") if t.attrs.get("id") == "run-table"]
    header = [th.text_content() for th in table.find_all("th")]
    rows = table.find_all("tr", "run-row")
    assert len(rows) == 9
    for row in rows:
        cells = dict(zip(header, (td.text_content() for td in row.find_all("td")), strict=True))
        key = (float(cells["sampler.guidance_scale"]), float(cells["sampler.upsample_temp"]))
        expected = summaries[key]["metrics"]
        assert float(cells["clip/score_mean"]) == pytest.approx(expected["clip/score_mean"], rel=1e-3)
        assert float(cells["fid/fid"]) == pytest.approx(expected["fid/fid"], rel=1e-3)
        assert cells["samples"] == str(len(PROMPTS) * len(SEEDS))
        assert "sampler.guidance_scale=" in cells["overrides"]


def test_every_table_sits_in_a_box_that_scrolls_sideways(sweep_report, finding_report):
    for dom in (sweep_report[1], finding_report[1]):
        tables = dom.find_all("table")
        assert {t.attrs.get("id") for t in tables} >= {"run-table"}
        for table in tables:
            box = table.parent
            assert box.tag == "div" and "table-scroll" in box.classes, table.attrs
    assert section(finding_report[1], "findings").find_all("div", "table-scroll")


def test_header_states_model_random_weights_and_each_runs_config(sweep_report):
    _, dom = sweep_report
    header = dom.find_all("header")[0].text_content()
    assert "glide-tiny" in header and "Random weights" in header
    configs = section(dom, "configs").find_all("details")
    assert len(configs) == 9
    assert "sampler.upsample_temp" in configs[0].text_content()


def test_findings_follow_the_title_and_summary_line_before_notes_and_everything_else(finding_report):
    _, dom = finding_report
    (body,) = dom.find_all("body")
    (header,) = body.find_all("header")
    # The header is the title, one summary line, warnings and the navigation: no tables, no lists of notes.
    assert {child.tag for child in header.children} <= {"h1", "p", "div", "nav"}
    assert "3 runs" in header.find_all("p")[1].text_content()
    order = list(body.iter())
    findings = section(dom, "findings")
    (notes,) = [d for d in body.find_all("details") if d.attrs.get("id") == "notes"]
    assert order.index(findings) < order.index(notes) < order.index(section(dom, "grids"))
    assert CLAIM in findings.find_all("table")[0].text_content()


def test_a_note_several_runs_wrote_is_shown_once_with_its_runs_in_a_folded_list(finding_report):
    (notes,) = [d for d in finding_report[1].find_all("details") if d.attrs.get("id") == "notes"]
    summary = " ".join(notes.find_all("summary")[0].text_content().split())
    shared = (SHARED_NOTE, *OTHER_SHARED_NOTES)
    written = 3 * len(shared) + 1
    assert summary.startswith(f"Notes ({len(shared) + 1}; {written} as the runs wrote them")
    lines = [" ".join(li.text_content().split()) for li in notes.find_all("li")]
    assert lines == [f"all 3 runs: {note}" for note in shared] + [f"sweep/0: {FIRST_RUN_NOTE}"]
    assert [li.attrs["data-runs"] for li in notes.find_all("li", "note-line")] == ["3"] * len(shared) + ["1"]


def test_navigation_links_the_page_sections_and_each_scorer_view(sweep_report):
    _, dom = sweep_report
    (nav,) = dom.find_all("nav")
    sections = ["grids", "metrics", "comparisons", "bias", "runs", "configs"]
    assert [a.attrs["href"] for a in nav.find_all("a")] == [f"#{name}" for name in sections]
    assert [s.attrs["id"] for s in dom.find_all("section")] == sections


def test_a_scorer_added_to_the_views_registry_gets_its_metrics_section(tmp_path, monkeypatch):
    monkeypatch.setitem(SCORER_VIEWS, "sharpness", ())
    make_run(tmp_path / "run", RunSpec(), tmp_path / "store")
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    groups = [g.attrs["data-scorer"] for g in dom.find_all("div", "metric-group")]
    assert groups == ["clip", "fid", "bias", "sharpness", "kid"]
    (missing,) = [d for d in dom.find_all("div", "not-computed") if d.attrs.get("data-scorer") == "sharpness"]
    assert "not computed" in missing.text_content()


# ---------------------------------------------------------------- missing parts


def test_a_run_without_fid_marks_the_fid_section_not_computed(tmp_path):
    make_run(tmp_path / "run", RunSpec(with_fid=False), tmp_path / "store")
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    (fid,) = [d for d in dom.find_all("div", "not-computed") if d.attrs.get("data-scorer") == "fid"]
    assert "not computed" in fid.text_content()
    assert not [d for d in dom.find_all("div", "not-computed") if d.attrs.get("data-scorer") == "clip"]
    values = section(dom, "metrics").find_all("table", "metric-values")[0].text_content()
    assert "clip/score_mean" in values
    # One line, no heading: the scorer's name, "not computed" and its note saying why.
    assert " ".join(fid.text_content().split()) == "fid: not computed (skipped, no reference statistics given)."
    groups = {g.attrs["data-scorer"]: g for g in dom.find_all("div", "metric-group")}
    assert groups["fid"].find_all("h3") == [] and groups["fid"].find_all("p", "note") == []
    assert groups["clip"].find_all("p", "note") == [] and len(groups["clip"].find_all("h3")) == 1


def test_a_scorer_no_run_was_composed_with_is_left_out(tmp_path):
    make_run(tmp_path / "run", RunSpec(with_fid=False, config={"scorers": ["clip", "bias"]}), tmp_path / "store")
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    groups = [g.attrs["data-scorer"] for g in dom.find_all("div", "metric-group")]
    assert groups == ["clip", "bias", "kid"]
    assert "fid/" not in section(dom, "metrics").text_content()
    assert not dom.find_all("div", "not-computed")


def test_a_view_of_a_scorer_no_run_was_composed_with_is_left_out(tmp_path):
    make_run(tmp_path / "run", RunSpec(scored=False, config={"scorers": ["clip"]}), tmp_path / "store")
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    assert [s.attrs["id"] for s in dom.find_all("section")] == ["grids", "metrics", "comparisons", "runs", "configs"]
    assert "#bias" not in [a.attrs["href"] for a in dom.find_all("nav")[0].find_all("a")]
    (clip,) = dom.find_all("div", "not-computed")  # asked for, not computed: one line saying so
    assert clip.attrs["data-scorer"] == "clip"
    assert " ".join(clip.text_content().split()) == "clip: not computed (no run wrote its metrics)."


def test_a_study_with_nothing_to_compare_says_so_in_one_line(tmp_path):
    make_run(tmp_path / "run", RunSpec(), tmp_path / "store")
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    comparisons = section(dom, "comparisons")
    assert [n.tag for n in comparisons.children] == ["h2", "p"]
    assert comparisons.children[1].text_content().startswith("Nothing to compare: no parameter varies")


def test_a_null_fid_in_every_run_is_not_computed_and_gets_no_plot(tmp_path):
    for job, guidance in enumerate(GUIDANCE):
        # A reference count alone is not a result: the section stays "not computed".
        spec = RunSpec(guidance=guidance, fid_null=True, metrics={"fid/n_ref": 0.0})
        make_run(tmp_path / "sweep" / str(job), spec, tmp_path / "store")
    dom = Dom.parse(build_report([tmp_path / "sweep"]).read_text())
    assert [d.attrs.get("data-scorer") for d in dom.find_all("div", "not-computed")] == ["fid"]
    assert not [p for p in dom.find_all("img", "plot") if p.attrs["data-metric"] == "fid/fid"]


def test_an_unscored_run_renders_its_samples_with_every_scorer_not_computed(tmp_path):
    make_run(tmp_path / "run", RunSpec(scored=False), tmp_path / "store")
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    scorers = {d.attrs.get("data-scorer") for d in dom.find_all("div", "not-computed")}
    assert scorers == {"clip", "fid", "bias", "bias-tables"}
    assert len(dom.find_all("img", "grid-thumb")) == len(PROMPTS) * len(SEEDS)


def test_a_missing_image_file_shows_a_placeholder_instead_of_a_broken_image(tmp_path):
    make_run(tmp_path / "run", RunSpec(seeds=(0,)), tmp_path / "store")
    os.remove(tmp_path / "store" / f"{sample_key('house', 0, 3.0, 0.995)}_256.png")
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    assert len(dom.find_all("img", "grid-thumb")) == len(PROMPTS) - 1
    assert "image missing" in section(dom, "grids").text_content()


def test_thumbnails_are_reused_by_a_second_report(tmp_path):
    make_run(tmp_path / "run", RunSpec(), tmp_path / "store")
    build_report([tmp_path / "run"])
    thumbs = sorted((tmp_path / "run" / "report_files" / "thumbs").iterdir())
    before = [t.stat().st_mtime_ns for t in thumbs]
    time.sleep(0.01)
    build_report([tmp_path / "run"])
    assert [t.stat().st_mtime_ns for t in thumbs] == before


# ---------------------------------------------------------------- within-run sweeps and statistics


def test_a_parameter_swept_inside_one_run_is_plotted_as_mean_with_a_t_interval(tmp_path):
    make_run(tmp_path / "run", RunSpec(guidance=1.0, extra_guidance=(3.0,), seeds=(0, 1, 2)), tmp_path / "store")
    study = load_study([tmp_path / "run"])
    guidance = next(p for p in study.parameters if p.name == "guidance_scale")
    (line,) = score_series(study, "clip.score", guidance)
    assert line.x == (1.0, 3.0)
    for g, y, low, high in zip(line.x, line.y, line.low, line.high, strict=True):
        scores = [clip_score(i, s, g, 0.995) for i in range(len(PROMPTS)) for s in (0, 1, 2)]
        interval = stats.t.interval(0.95, len(scores) - 1, loc=np.mean(scores), scale=stats.sem(scores))
        assert (y, low, high) == pytest.approx((np.mean(scores), *interval))
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    assert {p.attrs["data-param"] for p in dom.find_all("img", "plot")} == {"guidance_scale"}


def test_t_interval_matches_scipy_and_has_no_interval_for_one_value():
    values = [0.3, 0.5, 0.4, 0.45]
    low, high = stats.t.interval(0.9, 3, loc=np.mean(values), scale=stats.sem(values))
    assert t_interval(values, 0.9) == pytest.approx((0.4125, low, high))
    assert t_interval([0.7]) == (0.7, None, None)


def test_class_shares_without_intervals_still_get_a_chart(tmp_path):
    make_run(tmp_path / "run", RunSpec(), tmp_path / "store")
    distribution = pd.read_parquet(tmp_path / "run" / table_file("bias/distribution"))
    distribution[["ci_low", "ci_high"]] = np.nan  # what the scorer writes for fewer than two probe samples
    write_table(tmp_path / "run", "bias/distribution", distribution)
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    assert len(dom.find_all("img", "bias-plot")) == 1
    assert "share 0.5 [—, —]" in section(dom, "bias").text_content()


def test_confusion_matrix_stored_with_expected_classes_as_its_index_is_read_the_same(tmp_path):
    make_run(tmp_path / "run", RunSpec(), tmp_path / "store")
    table = tmp_path / "run" / table_file("bias/confusion")
    # Not the scorer's layout (it writes no index), so written by pandas itself: the reader accepts both.
    pd.read_parquet(table).set_index("expected").to_parquet(table)
    dom = Dom.parse(build_report([tmp_path / "run"]).read_text())
    assert len(dom.find_all("img", "confusion-plot")) == 1


def test_render_plots_returns_every_report_plot_as_a_png(sweep, tmp_path):
    images = render_plots([sweep[0]], tmp_path / "plots")
    curves = len(PLOTTED_METRICS) * len(SWEPT) - len(flat_curves(sweep[1]))
    assert len(images) == curves + 9 + 9  # metric curves that are not flat, class-share bars, confusion matrices
    assert "report/clip/score_mean vs sampler.guidance_scale" in images
    for path in images.values():
        assert path.parent == tmp_path / "plots"
        with Image.open(path) as png:
            assert png.format == "PNG"


# ---------------------------------------------------------------- W&B report (built, not saved: saving needs a login)


def test_wandb_report_has_a_scatter_panel_per_metric_and_override_on_the_runs_config_keys(sweep):
    wr = pytest.importorskip("wandb_workspaces.reports.v2", reason="the optional wandb-workspaces package")
    blocks = wandb_report_blocks(wr, load_study([sweep[0]]), project="p", entity=None, title="t", group="g1")
    (grid,) = [b for b in blocks if isinstance(b, wr.PanelGrid)]
    pairs = [(panel.y.name, panel.x.name) for panel in grid.panels]
    metrics = ["clip/score_mean", "kid/kid_mean", "bias/majority_share", "fid/fid"]
    metrics += [f"bias/share[class={cls}]" for cls in CLASSES]
    params = ["sampler.guidance_scale", "sampler.upsample_temp"]
    assert sorted(pairs) == sorted((m, p) for m in metrics for p in params)
    assert all(isinstance(p.x, wr.Config) and isinstance(p.y, wr.SummaryMetric) for p in grid.panels)
    (runset,) = grid.runsets
    assert runset.project == "p"
    assert "Group" in str(runset.filters) and "'g1'" in str(runset.filters)


# ---------------------------------------------------------------- bad input and the command line


def test_a_missing_path_is_named_in_the_error(tmp_path):
    with pytest.raises(StudyInputError, match="no-such-dir: no such file or directory"):
        build_report([tmp_path / "no-such-dir"])


def test_a_dir_that_is_neither_run_nor_sweep_says_what_was_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StudyInputError, match="expected summary.json .* numbered run dirs"):
        build_report([tmp_path / "empty"])


def test_thumb_size_out_of_range_is_rejected(sweep):
    with pytest.raises(StudyInputError, match="thumb_size must be between 16 and 1024 pixels, got 4"):
        build_report([sweep[0]], thumb_size=4)


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.report", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_cli_bad_path_prints_one_line_and_exits_nonzero(tmp_path):
    result = run_cli(str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "not a run dir (expected summary.json" in result.stderr


@pytest.mark.slow
def test_cli_writes_the_report_to_out_and_prints_its_path(tmp_path):
    make_run(tmp_path / "run", RunSpec(), tmp_path / "store")
    result = run_cli(str(tmp_path / "run"), "-o", str(tmp_path / "r" / "review.html"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "r" / "review.html")
    assert (tmp_path / "r" / "review_files" / "thumbs").is_dir()


@pytest.mark.slow
def test_cli_wandb_offline_fails_with_one_clear_line(tmp_path):
    make_run(tmp_path / "run", RunSpec(), tmp_path / "store")
    result = run_cli(str(tmp_path / "run"), "--wandb", "--project", "p", env={"WANDB_MODE": "offline"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--wandb needs W&B online, but WANDB_MODE=offline" in result.stderr


# ---------------------------------------------------------------- in a browser


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    # Without the background-networking flags Chromium keeps dialling out, which a closed network refuses.
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=180)


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless check needs chromium, chromium-browser or google-chrome on PATH "
    "(Debian: apt-get install -y --no-install-recommends chromium)",
)
def test_sweep_report_renders_in_headless_chromium_with_every_image_loaded(sweep_report, sweep, tmp_path):
    path, dom = sweep_report
    url = path.as_uri()
    rendered = chromium("--virtual-time-budget=10000", "--dump-dom", url, profile=tmp_path / "profile-dom")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    live = Dom.parse(rendered.stdout)
    (body,) = live.find_all("body")
    plots = len(PLOTTED_METRICS) * len(SWEPT) - len(flat_curves(sweep[1]))
    grids, bars, confusions, behind_bars = 3 * 8, 9, 9, 9 * 2 * 2
    n_images = grids + plots + bars + confusions + behind_bars
    assert len(live.find_all("img")) == len(dom.find_all("img")) == n_images
    assert len(live.find_all("img", "grid-thumb")) == grids
    assert len(live.find_all("img", "plot")) == plots
    # The page's own script counts the images the browser decoded: all of them, none broken.
    assert (body.attrs["data-image-count"], body.attrs["data-broken-images"]) == (str(n_images), "0")
    assert len(live.find_all("tr", "run-row")) == 9
    assert sum(len(t.find_all("tr")) for t in live.find_all("table", "grid")) == 3 * (1 + len(PROMPTS))

    artifacts = Path(os.environ.get("REPORT_ARTIFACT_DIR") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report_sweep_3x3.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=1400,3000", url, profile=tmp_path / "profile-shot")
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1400, 3000)
        assert np.asarray(image.convert("L")).std() > 5  # not a blank page


def test_a_plot_shades_the_band_it_names_and_names_none_it_does_not_draw():
    from matplotlib.collections import PolyCollection

    from harness.analysis.study import SweptParameter
    from harness.report.plots import draw_series
    from harness.report.series import Series

    param = SweptParameter("sampler.guidance_scale", "param:sampler.guidance_scale", (1, 3, 5), between_runs=True)
    with_ci = Series("all", (1, 3, 5), (0.2, 0.3, 0.4), (0.1, 0.2, 0.3), (0.3, 0.4, 0.5))
    without = Series("all", (1, 3, 5), (20.0, 30.0, 40.0), (None, None, None), (None, None, None))
    banded = draw_series([with_ci], metric="clip/score_mean", param=param, ci_level=0.95).axes[0]
    (band,) = [c for c in banded.collections if isinstance(c, PolyCollection)]
    assert band.get_paths()[0].vertices[:, 1].min() == pytest.approx(0.1)
    assert band.get_paths()[0].vertices[:, 1].max() == pytest.approx(0.5)
    assert "bands: 95% CI" in banded.get_title()
    plain = draw_series([without], metric="fid/fid", param=param, ci_level=0.95).axes[0]
    assert not [c for c in plain.collections if isinstance(c, PolyCollection)]
    assert "no interval" in plain.get_title() and "bands" not in plain.get_title()


def test_a_plot_with_bands_keeps_its_legend_clear_of_the_axes_and_in_the_saved_image(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from harness.analysis.study import SweptParameter
    from harness.report.plots import draw_series, save_figure
    from harness.report.series import Series

    param = SweptParameter("sampler.guidance_scale", "param:sampler.guidance_scale", (1, 3, 5), between_runs=True)
    lines = [
        Series(f"class={name}", (1, 3, 5), (share,) * 3, (share - 0.3,) * 3, (share + 0.3,) * 3)
        for name, share in zip(CLASSES, (0.2, 0.5, 0.8), strict=True)
    ]
    fig = draw_series(lines, metric="bias/share[*]", param=param, ci_level=0.95)
    FigureCanvasAgg(fig).draw()
    (ax,) = fig.axes
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [line.label for line in lines]
    assert not legend.get_window_extent().overlaps(ax.get_window_extent())
    width_in_figure = fig.get_size_inches()[0] * fig.dpi
    assert legend.get_window_extent().x1 > width_in_figure  # outside the axes' figure: the saved image must grow
    with Image.open(save_figure(fig, tmp_path / "shares.png", dpi=int(fig.dpi))) as png:
        assert png.width >= legend.get_window_extent().x1 - ax.get_tightbbox().x0


@pytest.mark.parametrize("n_classes", [3, 8, 30])
def test_confusion_counts_are_legible_in_their_cells_and_the_matrix_fits_the_page_column(n_classes, tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from harness.report.plots import save_figure
    from harness.report.report_options import ReportOptions
    from harness.report.views.bias import draw_confusion

    dpi = ReportOptions.plot_dpi
    names = [f"class_number_{i}" for i in range(n_classes)]
    counts = np.arange(n_classes * n_classes).reshape(n_classes, n_classes) % 17
    matrix = pd.DataFrame(counts, index=names, columns=names)
    fig = draw_confusion(matrix, title="control prompts")
    fig.set_dpi(dpi)
    FigureCanvasAgg(fig).draw()
    (ax,) = fig.axes
    box = ax.get_window_extent()
    cell_w, cell_h = box.width / n_classes, box.height / n_classes
    numbers = [t for t in ax.texts if t.get_text().isdigit()]
    assert len(numbers) == n_classes * n_classes
    for text in numbers:
        extent = text.get_window_extent()
        assert extent.width < cell_w and extent.height < cell_h  # inside its cell
        assert text.get_fontsize() * dpi / 72 >= 12 or n_classes > 16  # 12 px at full cell size
        assert text.get_fontsize() >= 6
    with Image.open(save_figure(fig, tmp_path / "confusion.png", dpi)) as png:
        # The content column at a 1280 px window: the page's margins and a scroll bar taken off.
        assert png.width <= 1280 - 2 * 32 - 16


# Measures the laid-out page once everything (images included) has loaded, and writes what it found into the
# DOM as JSON, for --dump-dom to hand back.
LAYOUT_PROBE = """
<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const scrollsSideways = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const inScrollBox = (el) => {
    for (let up = el.parentElement; up; up = up.parentElement) if (scrollsSideways(up)) return true;
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className ? "." + String(el.className).split(" ").join(".") : "");
  const sticking_out = Array.from(document.body.querySelectorAll("*"))
    .filter((el) => el.getBoundingClientRect().right > width + 0.5 && !inScrollBox(el))
    .map((el) => name(el) + " right=" + Math.round(el.getBoundingClientRect().right));
  const boxes = Array.from(document.querySelectorAll(".table-scroll")).map((box) => ({
    overflows: box.scrollWidth > box.clientWidth,
    scrollbar: box.offsetHeight - box.clientHeight - box.clientTop * 2,
    tables_inside: box.querySelectorAll("table").length,
  }));
  const findings = document.querySelector("#findings h2").getBoundingClientRect();
  const runRows = Array.from(document.querySelectorAll("#run-table tr.run-row"));
  const lineHeight = parseFloat(getComputedStyle(runRows[0].cells[0]).lineHeight);
  const runRowLines = runRows.map((row) => row.getBoundingClientRect().height / lineHeight);
  const confusions = Array.from(document.querySelectorAll("img.confusion-plot"))
    .map((img) => [img.getBoundingClientRect().width, img.naturalWidth]);
  const out = document.createElement("pre");
  out.id = "layout-probe";
  out.textContent = JSON.stringify({
    width, innerWidth: window.innerWidth, innerHeight: window.innerHeight,
    scrollWidth: document.documentElement.scrollWidth, sticking_out, boxes,
    tables: document.querySelectorAll("table").length, findings_bottom: findings.bottom, confusions, runRowLines,
  });
  document.body.appendChild(out);
});
</script>
"""


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless check needs chromium, chromium-browser or google-chrome on PATH")
def test_at_1280_px_the_findings_are_above_the_fold_and_nothing_but_scroll_boxes_is_wider(finding_report, tmp_path):
    path, _ = finding_report
    probed = path.with_name("layout-probe.html")  # beside the report, so that its _files folder resolves
    probed.write_text(path.read_text().replace("</body>", LAYOUT_PROBE + "</body>"))
    window = "--window-size=1280,900"
    args = ("--virtual-time-budget=10000", window, "--dump-dom", probed.as_uri())
    rendered = chromium(*args, profile=tmp_path / "profile-layout")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    (probe,) = [n for n in Dom.parse(rendered.stdout).find_all("pre") if n.attrs.get("id") == "layout-probe"]
    layout = json.loads(probe.text_content())
    assert layout["innerWidth"] == 1280 and 0 < layout["innerHeight"] <= 900
    # The Findings heading lies within the first screen.
    assert layout["findings_bottom"] <= layout["innerHeight"]
    # Nothing sticks out on the right but what sits in a box that scrolls sideways, so no page-wide scroll.
    assert layout["sticking_out"] == []
    assert layout["scrollWidth"] <= layout["width"]
    # Every table is in a box; the run table of this study (every metric a column) is wider than the page, and
    # its box draws a scroll bar (not one that appears only while scrolling).
    assert sum(box["tables_inside"] for box in layout["boxes"]) == layout["tables"]
    wide = [box for box in layout["boxes"] if box["overflows"]]
    assert wide and all(box["scrollbar"] > 0 for box in wide)
    assert len(layout["runRowLines"]) == 3 and max(layout["runRowLines"]) < 2  # a run is one line, not wrapped
    # Confusion matrices are shown at their own size: the page does not shrink their counts.
    assert layout["confusions"] and all(shown >= natural - 1 for shown, natural in layout["confusions"])

    artifacts = Path(os.environ.get("REPORT_ARTIFACT_DIR") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report_top_1280x900.png"
    taken = chromium(f"--screenshot={shot}", window, path.as_uri(), profile=tmp_path / "profile-top")
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 900)
        assert np.asarray(image.convert("L")).std() > 5  # not a blank page
