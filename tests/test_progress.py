"""Sampling progress on the tiny model: each batch's bar counts the loop's model evaluations, the overall bar
counts the images, and the log estimates the sampling time from the first batch of each stage.
"""

from __future__ import annotations

import io
import logging
import re

import pytest
import torch

from harness.config.schema import SamplerConfig
from harness.config.suites import Prompt, Suite
from harness.generate.glide_generator import GlideGenerator
from harness.generate.text2im_mode import TextToImage
from harness.glide.models import ModelSpec, load_pipeline, model_id
from harness.run.plan import Sampling, make_plan
from harness.run.progress import format_seconds
from harness.run.runner import sample_missing
from harness.run.store import SampleStore

TEXT_TO_IMAGE = TextToImage()

TINY = ModelSpec(name="tiny", base="tiny_base", upsample="tiny_upsample", weights="random")
SUITE = Suite("progress", (Prompt("cube", "a red cube"), Prompt("ball", "a blue ball"), Prompt("cone", "a cone")))
BASE_STEPS, UPSAMPLE_STEPS = 5, 3
SAMPLING = Sampling.create(
    SamplerConfig(base_steps=str(BASE_STEPS), upsample_steps=f"ddim{UPSAMPLE_STEPS}"),
    model_id=model_id(TINY),
    device_type="cpu",
    dtype="fp32",
    per_sample=True,
    compiled=False,
)


@pytest.fixture(scope="module")
def pipeline():
    torch.set_num_threads(1)
    return load_pipeline(TINY)


def bar_states(text: str, desc: str) -> list[tuple[int, int]]:
    """Every (n, total) a tqdm bar named `desc` showed, in order."""
    return [(int(n), int(t)) for n, t in re.findall(rf"{re.escape(desc)}: +\d+%\|[^|]*\| (\d+)/(\d+)", text)]


def test_each_batch_bar_counts_every_step_of_its_loop(tmp_path, pipeline):
    out = io.StringIO()
    specs = make_plan(SUITE, SAMPLING, seed=0, samples_per_prompt=1)  # 3 images: batches of 2 and 1
    sample_missing(
        specs, SampleStore(tmp_path), lambda: GlideGenerator(pipeline, TEXT_TO_IMAGE), batch_size=2, progress_file=out
    )
    text = out.getvalue()
    for desc, steps in [("base 64px x2", BASE_STEPS), ("upsample 256px x2", UPSAMPLE_STEPS)]:
        states = bar_states(text, desc)
        assert states[-1] == (steps, steps) and {t for _, t in states} == {steps}
    assert bar_states(text, "base 64px x1")[-1] == (BASE_STEPS, BASE_STEPS)
    assert bar_states(text, "images")[-1] == (6, 6)  # 3 base + 3 upsampled
    assert "it/s" in text or "step/s" in text or "s/step" in text


def test_the_log_names_the_work_then_estimates_the_time(tmp_path, pipeline, caplog):
    store = SampleStore(tmp_path)
    specs = make_plan(SUITE, SAMPLING, seed=0, samples_per_prompt=2)
    sample_missing(
        specs[:2], store, lambda: GlideGenerator(pipeline, TEXT_TO_IMAGE), batch_size=2, progress_file=io.StringIO()
    )
    caplog.clear()  # the first call's lines, where an earlier test left the logger at INFO
    with caplog.at_level(logging.INFO):
        sample_missing(
            specs, store, lambda: GlideGenerator(pipeline, TEXT_TO_IMAGE), batch_size=2, progress_file=io.StringIO()
        )
    lines = [r.getMessage() for r in caplog.records]
    assert "6 samples planned: 4 base and 4 upsampled images to compute, 2 and 2 found in the store" in lines[0]
    estimates = [line for line in lines if "estimated sampling time" in line]
    assert len(estimates) == 2  # one per stage, after its first batch
    assert estimates[0].startswith("base 64px") and "plus the upsample 256px stage" in estimates[0]
    assert estimates[1].startswith("upsample 256px") and "plus" not in estimates[1]


def test_nothing_to_sample_draws_no_bar(tmp_path, pipeline):
    store = SampleStore(tmp_path)
    specs = make_plan(SUITE, SAMPLING, seed=0, samples_per_prompt=1)
    sample_missing(
        specs, store, lambda: GlideGenerator(pipeline, TEXT_TO_IMAGE), batch_size=4, progress_file=io.StringIO()
    )
    out = io.StringIO()
    sample_missing(specs, store, lambda: GlideGenerator(pipeline, TEXT_TO_IMAGE), batch_size=4, progress_file=out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(("seconds", "text"), [(41.6, "42s"), (185, "3m05s"), (7620, "2h07m")])
def test_estimates_read_in_the_largest_unit(seconds, text):
    assert format_seconds(seconds) == text
