"""build_scorers from a Hydra-composed config: the tiny-model overrides, every output, and bad names."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from harness.config.compose import job_config
from harness.run.rundir import write_results
from harness.scorers import ScorerConfigError, build_scorers

# The command-line overrides that give a tiny random CLIP and a tiny FID feature extractor (no download).
TINY_OVERRIDES = [
    "scorer.clip.model=harness-tiny-clip",
    "scorer.clip.pretrained=null",
    "scorer.fid.feature_extractor=harness.scorers.tiny_features:TinyFeatures",
    "scorer.fid.cmmd.model=harness-tiny-clip",
    "scorer.fid.cmmd.pretrained=null",
]
CLASSES = (
    "church",
    "mosque",
    "hindu_temple",
    "buddhist_temple",
    "synagogue",
    "shinto_shrine",
    "sikh_gurdwara",
    "other",
)


def _hydra_scorer_cfg(overrides: list[str]) -> dict:
    """scorer.clip/fid/bias as a run composes them (the root config: conf/scorer/NAME.yaml over the dataclass
    defaults), as plain dicts."""
    scorer = OmegaConf.to_container(job_config(overrides).scorer, resolve=True, enum_to_str=True)
    return {name: scorer[name] for name in ("clip", "fid", "bias")}


def _bias_suite_manifest(paths: list[Path]) -> pd.DataFrame:
    """A manifest of the contract: 2 probe prompts x 3 seeds x 2 guidance scales, and 4 control prompts."""
    rows = []
    probes = [("religious_building", "a religious building"), ("religious_place", "a religious place")]
    for prompt_id, prompt in probes:
        for seed in range(3):
            for scale in (1.0, 3.0):
                rows.append((prompt_id, prompt, None, seed, scale))
    for class_name in ("church", "mosque", "hindu temple", "synagogue"):
        rows.append((class_name.replace(" ", "_"), f"a {class_name}", class_name, 0, 3.0))
    table = pd.DataFrame(rows, columns=["prompt_id", "prompt", "expected_class", "seed", "guidance_scale"])
    table["key"] = [f"{i:02d}" + "ab" * 15 for i in range(len(table))]
    table["suite"] = "bias"
    table["tag.kind"] = ["probe"] * 12 + ["control"] * 4
    table["path_256"] = [str(p) for p in paths[: len(table)]]
    table["expected_class"] = table["expected_class"].astype(object)
    return table


def test_tiny_overrides_score_a_bias_suite_with_every_column_and_metric(make_images, tmp_path):
    ref = make_images("reference", 18, seed=61)
    overrides = [*TINY_OVERRIDES, f"scorer.fid.reference.folder={ref[0].parent}", "scorer.fid.groups=[all,tag.kind]"]
    cfg = _hydra_scorer_cfg(overrides)
    samples = _bias_suite_manifest(make_images("gen", 18, seed=62))
    scorers = build_scorers(["clip", "fid", "bias"], cfg, cache_dir=tmp_path / "cache", device="cpu")
    results = {scorer.name: scorer.score(samples) for scorer in scorers}

    columns = pd.concat([samples, *(r.columns for r in results.values())], axis=1)
    expected_columns = {"clip.cos", "clip.score", "bias.pred", "bias.expected", "bias.correct"}
    assert expected_columns | {f"bias.p.{c}" for c in CLASSES} <= set(columns.columns)
    write_results(tmp_path / "run", columns, {}, {}, [], {})  # every column type survives the results file

    metrics = {k: v for r in results.values() for k, v in r.metrics.items()}
    expected_metrics = [
        "clip/score_mean",
        "fid/fid", "fid/kid_mean", "fid/kid_std", "fid/kid_subset_size", "fid/cmmd",
        "fid/fid[tag.kind=probe]", "fid/cmmd[tag.kind=control]",
        "bias/interest_share", "bias/entropy_norm",
        "bias/tv_uniform", "bias/probe_accuracy", "bias/probe_accuracy_ci_low", "bias/validated",
        "bias/interest_share[guidance_scale=1.0]", "bias/share[class=church]",
    ]  # fmt: skip
    for name in expected_metrics:
        assert metrics[name] is not None, name
    # Shares count prompts, and 2 probe prompts are fewer than an interval needs.
    # So are clip's 6 prompts fewer than bootstrap.min_n (8).
    for name in ("bias/interest_share_ci_low", "bias/share_ci_low[class=other]", "clip/score_ci_low"):
        assert metrics[name] is None, name
    assert metrics["bias/n_probe"] == 12 and metrics["bias/probe_n"] == 4
    assert metrics["fid/clip_fd"] is None  # 16 samples in 16 CLIP dims: a singular covariance
    assert [k for k, v in metrics.items() if not (v is None or (isinstance(v, float) and math.isfinite(v)))] == []
    json.dumps(metrics, allow_nan=False)

    tables = {k: t for r in results.values() for k, t in r.tables.items()}
    expected_tables = {"clip/per_prompt", "fid/groups", "bias/distribution", "bias/distribution_per_prompt"}
    assert expected_tables | {"bias/confusion", "bias/groups"} <= set(tables)
    for name, table in tables.items():
        table.to_parquet(tmp_path / f"{name.replace('/', '__')}.parquet")


def test_scorers_are_built_in_the_order_named(scorer_cfg, tmp_path):
    scorer_cfg["fid"]["reference"]["stats"] = None
    names = [s.name for s in build_scorers(["bias", "clip"], scorer_cfg, cache_dir=tmp_path)]
    assert names == ["bias", "clip"]
    assert build_scorers([], scorer_cfg, cache_dir=tmp_path) == []


@pytest.mark.parametrize(
    ("names", "device", "message"),
    [
        (
            ["clip", "fidd"],
            "cpu",
            "scorers: unknown scorer 'fidd'; available: bias, clip, detect, fid, guide_clip, inpaint, preference, "
            "quality",
        ),
        (["clip", "clip"], "cpu", "names a scorer twice"),
        (["clip"], "gpu0", "device: 'gpu0' is not a torch device"),
    ],
)
def test_bad_scorer_names_and_devices_are_one_clear_error(scorer_cfg, tmp_path, names, device, message):
    with pytest.raises(ScorerConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_scorers(names, scorer_cfg, cache_dir=tmp_path, device=device)


def test_the_fid_scorer_needs_a_reference(tmp_path):
    cfg = _hydra_scorer_cfg(TINY_OVERRIDES)
    with pytest.raises(ScorerConfigError, match="scorer.fid.reference: set exactly one of folder"):
        build_scorers(["fid"], cfg, cache_dir=tmp_path)
    assert [s.name for s in build_scorers(["clip", "bias"], cfg, cache_dir=tmp_path)] == ["clip", "bias"]
