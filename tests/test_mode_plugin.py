"""A mode added from outside the package (tests/plugins/outpaint_plugin.py, one module with its model config)
runs through the real command line; no file of the harness names it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import REPO, TINY, check, cli_env, run_cli
from PIL import Image

PLUGIN_DIR = Path(__file__).resolve().parent / "plugins"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outpainted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("outpaint")
    env = {**cli_env(home), "GLIDE_EVAL_PLUGINS": "outpaint_plugin"}
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_DIR), env["PYTHONPATH"]])
    args = ["+suite=couch", *TINY, "model=tiny_outpaint", "sampler.samples_per_prompt=2", "logger=disabled"]
    check(run_cli([*args, "hydra.run.dir=run", "store.cache_dir=store"], cwd=home, env=env))
    return home / "run"


def test_the_plugin_mode_keeps_its_grey_square_in_every_base_image(outpainted):
    manifest = pd.read_parquet(outpainted / "manifest.parquet")
    assert len(manifest) == 2 and set(manifest["outpaint_square"]) == {"16:48"}
    for path in manifest["path_64"]:
        pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
        square = pixels[16:48, 16:48]
        # the known value 0 in [-1, 1] is 127.5 in [0, 255]: the uint8 image holds 127 or 128 there
        assert np.isin(square, (127, 128)).all()
        outside = np.concatenate([pixels[:16].ravel(), pixels[48:].ravel()])
        assert not np.isin(outside, (127, 128)).all()  # the random model paints noise around it


def test_the_mode_enters_the_content_key(outpainted):
    """The key formula of docs/reproducibility-and-store.md, with the mode's own field added."""
    manifest = pd.read_parquet(outpainted / "manifest.parquet")
    for row in manifest.itertuples():
        fields = {"stage": "base", "prompt": row.prompt, "seed": int(row.seed), "model_id": row.model_id,
                  "device_type": "cpu", "dtype": "fp32", "per_sample": True, "compiled": False,
                  "guidance_scale": 3.0, "base_steps": "3", "outpaint_square": [16, 48]}  # fmt: skip
        assert row.base_key == hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def test_no_file_of_the_harness_names_the_plugin_mode():
    sources = [*(REPO / "harness").rglob("*.py"), *(REPO / "conf").rglob("*.yaml")]
    assert not [p for p in sources if "outpaint" in p.read_text()]
