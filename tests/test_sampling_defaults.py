"""What a run samples with by default: its thread count (one function decides it) and the loops' step counts,
short for the tiny model and the official notebook's 100 ancestral / fast27 DDIM for the released one.
"""

from __future__ import annotations

import os

import pytest
import torch
from cli_helpers import CONF
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from harness.config.schema import RunConfig, register
from harness.glide.models import resolve_threads
from harness.glide.presets import preset
from harness.glide.respacing import space_timesteps


@pytest.fixture
def no_omp_env(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_the_tiny_models_sample_on_one_cpu_thread(no_omp_env):
    for name in ("tiny_base", "tiny_upsample"):
        assert resolve_threads("cpu", preset(name).num_channels) == 1


def test_the_released_models_sample_on_every_core_the_process_may_use(no_omp_env):
    for name in ("base", "upsample"):
        assert resolve_threads("cpu", preset(name).num_channels) == len(os.sched_getaffinity(0))


def test_omp_num_threads_is_the_users_choice_for_any_model(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_threads("cpu", preset("tiny_base").num_channels) == 3
    assert resolve_threads("cpu", preset("base").num_channels) == 3


def test_a_gpu_run_keeps_torchs_own_host_thread_count(no_omp_env):
    assert resolve_threads("cuda", preset("base").num_channels) == torch.get_num_threads()


def run_config(*overrides: str) -> RunConfig:
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=list(overrides)))


def test_the_released_model_keeps_the_official_notebooks_steps():
    sampler = run_config().sampler
    assert (sampler.base_steps, sampler.upsample_steps) == ("100", "fast27")
    assert len(space_timesteps(1000, sampler.base_steps)) == 100
    assert len(space_timesteps(1000, sampler.upsample_steps)) == 27


def test_the_tiny_model_defaults_to_short_loops_of_both_kinds():
    sampler = run_config("model=tiny").sampler
    assert len(space_timesteps(1000, sampler.base_steps)) == 20
    assert sampler.upsample_steps.startswith("ddim") and len(space_timesteps(1000, sampler.upsample_steps)) == 5


def test_step_overrides_on_the_command_line_win_over_the_tiny_defaults():
    sampler = run_config("model=tiny", "sampler.base_steps=3", "sampler.upsample_steps=ddim2").sampler
    assert (sampler.base_steps, sampler.upsample_steps) == ("3", "ddim2")
