"""The runner on the tiny model: PNG bytes that do not depend on when a sample was made, timings kept beside
them for the manifest, and two runs of one plan sharing a store without computing any sample twice.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from harness.config.schema import SamplerConfig
from harness.config.suites import Prompt, Suite
from harness.generate.glide_generator import GlideGenerator
from harness.generate.text2im_mode import TextToImage
from harness.glide.models import ModelSpec, load_pipeline, model_id
from harness.glide.pipeline import GlidePipeline
from harness.run.plan import Sampling, make_plan
from harness.run.runner import manifest, sample_missing
from harness.run.store import SampleStore

TEXT_TO_IMAGE = TextToImage()

TINY = ModelSpec(name="tiny", base="tiny_base", upsample="tiny_upsample", weights="random")
SUITE = Suite("shared", (Prompt("cube", "a red cube"), Prompt("ball", "a blue ball"), Prompt("cone", "a cone")))
SAMPLES_PER_PROMPT = 2
N = len(SUITE.prompts) * SAMPLES_PER_PROMPT
SAMPLING = Sampling.create(
    SamplerConfig(base_steps="4", upsample_steps="ddim2"),
    model_id=model_id(TINY),
    device_type="cpu",
    dtype="fp32",
    per_sample=True,
    compiled=False,
)


def plan():
    return make_plan(SUITE, SAMPLING, seed=0, samples_per_prompt=SAMPLES_PER_PROMPT)


def store_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


@pytest.fixture(scope="module")
def pipeline() -> GlidePipeline:
    torch.set_num_threads(1)
    return load_pipeline(TINY)


def test_two_stores_written_at_different_times_hold_byte_identical_pngs(tmp_path, pipeline):
    sample_missing(
        plan(), SampleStore(tmp_path / "first"), lambda: GlideGenerator(pipeline, TEXT_TO_IMAGE), batch_size=2
    )
    time.sleep(1.1)  # PNG metadata with a clock reading would differ now; none may be there
    sample_missing(
        plan(), SampleStore(tmp_path / "second"), lambda: GlideGenerator(pipeline, TEXT_TO_IMAGE), batch_size=3
    )
    first, second = store_bytes(tmp_path / "first"), store_bytes(tmp_path / "second")
    assert len(first) == 2 * N and first == second


def test_the_manifest_reports_the_compute_times_of_the_samples(tmp_path, pipeline):
    store = SampleStore(tmp_path)
    sample_missing(plan(), store, lambda: GlideGenerator(pipeline, TEXT_TO_IMAGE), batch_size=2)
    frame = manifest(plan(), store, suite=SUITE.name, random_weights=True)
    assert len(frame) == N
    assert (frame["time_base_s"] > 0).all() and (frame["time_up_s"] > 0).all()


# ---------------------------------------------------------------- two runs, one store


class RecordingPipeline(GlidePipeline):
    """The tiny pipeline, appending one line per image it computes to a log file shared by the processes."""

    def __init__(self, pipeline: GlidePipeline, log: Path):
        super().__init__(pipeline.base, pipeline.upsampler)
        self.log = log

    def _record(self, stage: str, prompts, seeds) -> None:
        pid = os.getpid()
        lines = "".join(f"{stage}\t{p}\t{seed}\t{pid}\n" for p, seed in zip(prompts, seeds, strict=True))
        with self.log.open("a") as f:  # O_APPEND: whole lines from both processes
            f.write(lines)

    def sample_base(self, prompts, seeds, **kwargs):
        self._record("base", prompts, seeds)
        return super().sample_base(prompts, seeds, **kwargs)

    def upsample(self, prompts, images_64, seeds, **kwargs):
        self._record("upsample", prompts, seeds)
        return super().upsample(prompts, images_64, seeds, **kwargs)


def run_plan(root: str, log: str, start, out) -> None:
    torch.set_num_threads(1)
    pipeline = RecordingPipeline(load_pipeline(TINY), Path(log))
    start.wait(60)
    stats = sample_missing(
        plan(), SampleStore(Path(root)), lambda: GlideGenerator(pipeline, TEXT_TO_IMAGE), batch_size=1
    )
    out.put(stats.as_dict())


def test_two_runs_of_one_plan_into_one_store_compute_each_sample_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    log = tmp_path / "computed.log"
    runs = [context.Process(target=run_plan, args=(str(tmp_path / "store"), str(log), start, out)) for _ in "ab"]
    for run in runs:
        run.start()
    start.set()
    stats = [out.get(timeout=300) for _ in runs]
    for run in runs:
        run.join(60)
    assert [run.exitcode for run in runs] == [0, 0]
    computed = Counter(tuple(line.split("\t")[:3]) for line in log.read_text().splitlines())
    expected = {(stage, p.text, str(seed)) for stage in ("base", "upsample") for p in SUITE.prompts for seed in (0, 1)}
    assert set(computed) == expected and set(computed.values()) == {1}
    assert sum(s["base_sampled"] for s in stats) == sum(s["upsample_sampled"] for s in stats) == N
    assert sum(s["base_sampled"] + s["base_reused"] for s in stats) == 2 * N
    store = SampleStore(tmp_path / "store")
    assert all(store.has("base", s.base_key) and store.has("upsample", s.key) for s in plan())
    assert not list((tmp_path / "store").rglob("*.lock"))
