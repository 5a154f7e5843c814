"""A SLURM job array that waits for every job (hydra/launcher=slurm_cpu or slurm_gpu): hydra-submitit-launcher's
SLURM launcher, except that a job ending without a result (scancel, its time limit, a lost node) does not stop
the sweep: the other jobs' results stand and the sweep's end runs, naming the job and its log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn
from omegaconf import OmegaConf

try:  # the launcher needs the `slurm` extra; without it this module offers nothing
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:
    SlurmLauncher = None

log = logging.getLogger(__name__)

# Launcher keys that configure the executor itself rather than each job's resources.
EXECUTOR_KEYS = ("submitit_folder", "max_num_timeout")


if SlurmLauncher is not None:

    class SlurmArrayLauncher(SlurmLauncher):
        """One array of one job per sweep point; every job is waited for, and one without a result is left out
        of the returns (Hydra raises on a failed return, which would skip the sweep's end)."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            import submitit

            from harness.io import write_atomic
            from harness.run.rundir import SLURM_JOB_ID

            assert self.config is not None
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)
            if "mode" in self.config.hydra.sweep:
                os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
            executor = self._executor(submitit)
            numbers = list(range(initial_job_idx, initial_job_idx + len(job_overrides)))
            state = Singleton.get_state()
            jobs = executor.map_array(
                self,
                [list(overrides) for overrides in job_overrides],
                ["hydra.sweep.dir"] * len(numbers),
                numbers,
                [f"job_id_for_{number}" for number in numbers],
                [state] * len(numbers),
            )
            log.info("%d jobs submitted to SLURM as array %s", len(jobs), jobs[0].job_id.split("_")[0])
            returns = []
            for number, job in zip(numbers, jobs, strict=True):
                try:
                    returns.append(job.results()[0])
                except submitit.core.utils.UncompletedJobError:
                    # A job cancelled before it started made no dir; with one, the sweep's end names it too,
                    # and with its SLURM id there, the sweep's end finds SLURM's log of it.
                    job_dir = sweep_dir / str(number)
                    job_dir.mkdir(exist_ok=True)
                    write_atomic(job_dir / SLURM_JOB_ID, f"{job.job_id}\n".encode())
            return returns

        def _executor(self, submitit):
            params = dict(self.params)
            executor = submitit.AutoExecutor(
                folder=params["submitit_folder"], cluster="slurm", slurm_max_num_timeout=params["max_num_timeout"]
            )
            shared = set(OmegaConf.structured(BaseQueueConf).keys())  # the keys every submitit executor knows
            resources = {key: value for key, value in params.items() if key not in EXECUTOR_KEYS}
            executor.update_parameters(**{key if key in shared else f"slurm_{key}": v for key, v in resources.items()})
            return executor
