"""Scorer option dataclasses: they state the defaults (conf/scorer/*.yaml only what differs), OmegaConf types
them, errors name keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from harness.scorers import ScorerConfigError
from harness.scorers.configs import BiasConfig, ClipConfig, FidConfig
from harness.scorers.fid import check_sources
from harness.scorers.glossary import GLOSSARY, INTERVAL_METHODS, glossary_line
from harness.scorers.options import BootstrapOptions

REPO = Path(__file__).resolve().parents[2]

CONF = Path(__file__).resolve().parents[2] / "conf" / "scorer"


@pytest.mark.parametrize(("name", "cls"), [("clip", ClipConfig), ("fid", FidConfig), ("bias", BiasConfig)])
def test_the_yaml_merges_into_the_structured_config_as_hydra_will_compose_it(name, cls):
    merged = OmegaConf.merge(OmegaConf.structured(cls), OmegaConf.load(CONF / f"{name}.yaml"))
    key = "level" if name == "bias" else "batch_size"
    with pytest.raises(ValidationError, match=key):
        merged[key] = "not a number"


def test_an_empty_mapping_gives_the_defaults():
    assert ClipConfig.from_mapping({}) == ClipConfig()
    assert ClipConfig.from_mapping({}).bootstrap == BootstrapOptions(resamples=1000, seed=0, level=0.95, min_n=8)
    assert BiasConfig.from_mapping({}).class_of_interest == "church"


@pytest.mark.parametrize(
    ("cls", "mapping", "message"),
    [
        (
            ClipConfig,
            {"bootstrap": {"resampels": 3}},
            "scorer.clip.bootstrap: unknown option 'resampels'; allowed: resamples, seed, level, min_n",
        ),
        (ClipConfig, {"bootstrap": {"level": 0.0}}, "scorer.clip.bootstrap.level: expected a number in (0, 1)"),
        (ClipConfig, {"bootstrap": 3}, "scorer.clip.bootstrap: "),
        (BiasConfig, {"groups": "guidance_scale"}, "scorer.bias.groups: "),
        (FidConfig, {"reference": {"folder": "/nowhere"}, "subset_size": 1}, "scorer.fid.subset_size: expected null"),
        (FidConfig, {"kid_subsets": 0}, "scorer.fid.kid_subsets: expected an integer >= 1, got 0"),
        (FidConfig, {"reference": {"stats": 3.5, "trust": True}}, "scorer.fid.reference: unknown option 'trust'"),
    ],
)
def test_bad_options_are_one_line_naming_the_key(cls, mapping, message):
    with pytest.raises(ScorerConfigError) as err:
        cls.from_mapping(mapping)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_missing_reference_folder_is_refused_when_the_fid_scorer_is_built_not_when_typed():
    # Every run's config holds the fid options; only a run that uses the scorer reads its files.
    config = FidConfig.from_mapping({"reference": {"folder": "/nowhere"}})
    with pytest.raises(ScorerConfigError) as err:
        check_sources(config)
    assert str(err.value).startswith("scorer.fid.reference.folder: ") and "\n" not in str(err.value)


def test_every_glossary_entry_names_a_known_interval_method():
    assert {method for _, _, method in GLOSSARY.values()} <= set(INTERVAL_METHODS)
    assert glossary_line("bias/share").startswith(
        "bias/share: share of probe images labelled each class, mean of per-prompt shares; range [0, 1]"
    )


def test_the_model_names_read_without_open_clip_are_open_clips_own_list(tmp_path):
    """A fresh interpreter lists the names from the config folders before open_clip loads, then imports
    open_clip (with the harness's architectures registered) and compares with its own list_models()."""
    script = """
import json, sys
from harness.scorers.configs import model_names, open_clip_registry
before = model_names()
loaded = "open_clip" in sys.modules
print(json.dumps({"before": before, "loaded": loaded, "library": open_clip_registry().list_models()}))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] is False
    assert sorted(report["before"]) == sorted(report["library"])
    assert "harness-tiny-clip" in report["before"] and "ViT-L-14" in report["before"]
