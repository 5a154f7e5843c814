"""The SLURM launcher presets compose onto the root config and name a launcher class that Hydra's plugin scan
finds (a class outside the hydra_plugins package would fail only when a sweep starts, on the cluster)."""

from __future__ import annotations

import pytest
from cli_helpers import CONF
from hydra import compose, initialize_config_dir
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher

from harness.config.schema import register

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the slurm extra is not installed")


def launcher_config(preset: str):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(
            config_name="config", overrides=["+suite=couch", f"hydra/launcher={preset}"], return_hydra_config=True
        )
    return cfg.hydra.launcher


@pytest.mark.parametrize("preset", ["slurm_cpu", "slurm_gpu"])
def test_a_slurm_preset_names_the_launcher_that_waits_for_every_job(preset):
    found = {f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Launcher)}
    assert launcher_config(preset)._target_ == "hydra_plugins.glide_eval_launchers.slurm_array.SlurmArrayLauncher"
    assert launcher_config(preset)._target_ in found


def test_slurm_cpu_asks_for_no_gpu_and_the_clusters_default_partition():
    launcher = launcher_config("slurm_cpu")
    assert launcher.gpus_per_node == 0 and launcher.partition is None
    assert (launcher.cpus_per_task, launcher.mem_gb, launcher.timeout_min) == (2, 4, 60)


class FinishedJob:
    job_id = "7_0"

    def results(self) -> list[str]:
        return ["job 0's return"]


class CancelledJob:
    job_id = "7_1"

    def results(self) -> list[str]:
        from submitit.core.utils import UncompletedJobError

        raise UncompletedJobError("Job 7_1 (task: 0) has not produced any output (state: CANCELLED)")


class SubmittingExecutor:
    def map_array(self, fn, *args) -> list:
        return [FinishedJob(), CancelledJob()]


def test_a_job_without_a_result_is_left_out_of_the_returns_and_gets_a_dir_for_the_sweeps_end_to_name(tmp_path):
    from omegaconf import OmegaConf

    from hydra_plugins.glide_eval_launchers.slurm_array import SlurmArrayLauncher

    launcher = SlurmArrayLauncher(submitit_folder=str(tmp_path / "sweep" / ".submitit" / "%j"), max_num_timeout=0)
    launcher.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}})
    launcher._executor = lambda submitit: SubmittingExecutor()
    assert launcher.launch([["runner.shard=0/2"], ["runner.shard=1/2"]], initial_job_idx=0) == ["job 0's return"]
    assert (tmp_path / "sweep" / "1").is_dir()
