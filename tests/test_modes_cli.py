"""The two other GLIDE modes through the real command line: CLIP-guided and inpainting runs of the tiny models
write their samples, and what lands on disk is what the mode promises.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import TINY, check, cli_env, run_cli
from PIL import Image

QUICK = [*TINY[1:], "scorers=[]", "sampler.samples_per_prompt=2", "logger=disabled"]
RUN = ["hydra.run.dir=run", "store.cache_dir=store"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(tmp_path_factory.mktemp("home"))


def test_a_clip_guided_run_records_the_guidance_and_its_guide_in_every_row(tmp_path, env):
    check(run_cli(["+suite=couch", "model=tiny", *QUICK, "sampler.guidance=clip", *RUN], cwd=tmp_path, env=env))
    samples = pd.read_parquet(tmp_path / "run" / "manifest.parquet")
    assert len(samples) == 2 and set(samples["guidance"]) == {"clip"}
    assert all("+tiny_noised_clip:random-seed2" in model_id for model_id in samples["model_id"])
    for path in samples["path_256"]:
        assert np.asarray(Image.open(path)).shape == (256, 256, 3)


def test_an_inpainting_run_keeps_the_source_pixels_outside_the_rectangle_in_its_pngs(tmp_path, env):
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (70, 80, 3), dtype=np.uint8)).save(tmp_path / "grass.png")
    prompt = "{id:corgi,text:a corgi in a field,image:grass.png,mask:{left:0.5,top:0,right:1,bottom:0.5}}"
    args = ["+suite=couch", f"suite.prompts=[{prompt}]", "model=tiny_inpaint", *QUICK, *RUN]
    check(run_cli(args, cwd=tmp_path, env=env))
    samples = pd.read_parquet(tmp_path / "run" / "manifest.parquet")
    assert len(samples) == 2 and samples["base_key"].nunique() == 2
    for size, column in ((64, "path_64"), (256, "path_256")):
        with Image.open(tmp_path / "grass.png") as image:
            source = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
        keep = np.ones((size, size), dtype=bool)
        keep[: size // 2, size // 2 :] = False
        for path in samples[column]:
            assert np.array_equal(np.asarray(Image.open(Path(path)).convert("RGB"))[keep], source[keep])
