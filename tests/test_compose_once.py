"""Each job's config is composed and typed once by the harness (harness.config.compose): the command's checks
compose and type every job before Hydra starts, and the job reuses that typed config in the same process.

The command runs in a fresh interpreter whose `hydra.compose` (the harness's only way to compose) and
`OmegaConf.to_object` (its only way to type) count their calls. Hydra's own composition for its launch goes
through its config loader, not through these, and is not counted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_helpers import TINY, cli_env

pytestmark = pytest.mark.slow

COUNTING_RUN = """
import collections, json, sys
import hydra
from omegaconf import OmegaConf
from harness.config.schema import RunConfig

composed = collections.Counter()
typed = collections.Counter()
compose, to_object = hydra.compose, OmegaConf.to_object

def counting_compose(config_name=None, overrides=(), **kwargs):
    composed[" ".join(o for o in overrides if not o.startswith("hydra."))] += 1
    return compose(config_name, overrides=overrides, **kwargs)

def counting_to_object(cfg):
    result = to_object(cfg)
    if isinstance(result, RunConfig):
        typed[" ".join(f"{k}={v}" for k, v in sorted(vars(result.sampler).items()) if k == "guidance_scale")] += 1
    return result

hydra.compose = counting_compose
OmegaConf.to_object = counting_to_object
from harness.cli.main import run
try:
    run(sys.argv[1:])
finally:
    print(json.dumps({"composed": composed, "typed": typed}), file=sys.__stderr__)
"""


def counted_run(args: list[str], tmp_path) -> dict:
    hydra_dirs = [f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep"]
    command = [sys.executable, "-c", COUNTING_RUN, *args, *TINY, "sampler.samples_per_prompt=1", "logger=disabled",
               f"store.cache_dir={tmp_path}/store", *hydra_dirs]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stderr.strip().splitlines()[-1])


def test_a_run_is_composed_once_and_typed_once(tmp_path):
    counts = counted_run(["+suite=couch"], tmp_path)
    assert list(counts["composed"].values()) == [1]
    assert list(counts["typed"].values()) == [1]
    assert (tmp_path / "run" / "results.parquet").is_file()


def test_each_job_of_a_sweep_is_composed_once(tmp_path):
    counts = counted_run(["-m", "+suite=couch", "sampler.guidance_scale=1,3", "hydra/launcher=basic"], tmp_path)
    jobs = [key for key in counts["composed"] if "guidance_scale=" in key]
    assert len(jobs) == 2 and all(counts["composed"][key] == 1 for key in jobs)
    assert len(list((tmp_path / "sweep").glob("*/results.parquet"))) == 2
