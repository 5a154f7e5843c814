"""A prompt's objects and phrases: manifest columns of lists the detect scorer reads, outside the content key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from harness.config.schema import SamplerConfig
from harness.config.suites import Prompt, Suite
from harness.generate.glide_generator import GlideGenerator
from harness.generate.text2im_mode import TextToImage
from harness.glide.models import ModelSpec, load_pipeline, model_id
from harness.run.plan import Sampling, make_plan
from harness.run.rundir import write_manifest
from harness.run.runner import manifest, sample_missing
from harness.run.store import SampleStore
from harness.scorers.detect import text_items

TEXT_TO_IMAGE = TextToImage()

TINY = ModelSpec(name="tiny", base="tiny_base", upsample="tiny_upsample", weights="random")
SAMPLING = Sampling.create(
    SamplerConfig(base_steps="4", upsample_steps="ddim2", device="cpu"),
    model_id=model_id(TINY),
    device_type="cpu",
    dtype="fp32",
    per_sample=True,
    compiled=False,
)
LISTED = Suite(
    "listed",
    (Prompt("cube", "a red cube", objects=("cube",), phrases=("red", "cube")), Prompt("ball", "a blue ball")),
)
PLAIN = Suite("plain", (Prompt("cube", "a red cube"), Prompt("ball", "a blue ball")))


def test_objects_and_phrases_leave_the_content_keys_unchanged():
    listed = make_plan(LISTED, SAMPLING, seed=0, samples_per_prompt=2)
    plain = make_plan(PLAIN, SAMPLING, seed=0, samples_per_prompt=2)
    assert [s.key for s in listed] == [s.key for s in plain]
    assert [s.base_key for s in listed] == [s.base_key for s in plain]


def test_objects_and_phrases_reach_the_manifest_and_survive_its_parquet_file(tmp_path: Path):
    torch.set_num_threads(1)
    specs = make_plan(LISTED, SAMPLING, seed=0, samples_per_prompt=2)
    store = SampleStore(tmp_path / "store")
    sample_missing(specs, store, lambda: GlideGenerator(load_pipeline(TINY), TEXT_TO_IMAGE), batch_size=4)
    frame = manifest(specs, store, suite=LISTED.name, random_weights=True)
    assert list(frame["objects"]) == [["cube"], ["cube"], None, None]
    assert list(frame["phrases"]) == [["red", "cube"], ["red", "cube"], None, None]
    path = write_manifest(tmp_path / "run", frame)
    back = pd.read_parquet(path)
    assert [text_items(v, "objects", i) for i, v in back["objects"].items()] == [("cube",), ("cube",), (), ()]
    assert [text_items(v, "phrases", i) for i, v in back["phrases"].items()] == [("red", "cube")] * 2 + [(), ()]
