"""Ctrl-C in the middle of sampling: one line, exit 130, no traceback, a store of whole PNGs, and a rerun of the
same command that finishes the run.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
from cli_helpers import TINY, check, cli_env, command, run_cli, store_pngs

INTERRUPTED = "interrupted; rerun the same command to resume"
N = 8  # two prompts x four seeds


def run_args(prompts: Path) -> list[str]:
    return [
        "+suite=file",
        f"suite.path={prompts}",
        *TINY,
        "sampler.base_steps=12",  # long enough that the signal lands inside a loop
        "scorers=[]",
        "logger=disabled",
        "sampler.samples_per_prompt=4",
        "sampler.batch_size=1",
        "hydra.run.dir=run",
        "store.cache_dir=store",
    ]


def ctrl_c_as_at_a_terminal() -> None:
    """In the child before it starts: SIGINT's default action, which Python turns into KeyboardInterrupt. A test
    run started in the background of a non-interactive shell has SIGINT ignored, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_first_base_png(process: subprocess.Popen, store: Path, timeout: float = 300) -> None:
    """Return once the run has written a 64px PNG; fail if it exits first or none appears within `timeout`."""
    deadline = time.monotonic() + timeout
    while not list(store.glob("base/**/*.png")):
        assert process.poll() is None, f"the run exited ({process.returncode}) before writing a 64px PNG"
        assert time.monotonic() < deadline, f"no 64px PNG in {timeout} s"
        time.sleep(0.01)


def interrupt_after_first_base_png(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        command(args),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )
    try:
        wait_for_first_base_png(process, cwd / "store")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout.decode(), stderr.decode())


def test_ctrl_c_mid_sampling_exits_130_with_one_line_and_a_rerun_completes(tmp_path):
    env = cli_env(tmp_path / "home")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cube on a table\na blue ball in the grass\n")
    args = run_args(prompts)
    result = interrupt_after_first_base_png(args, tmp_path, env)
    assert result.returncode == 130, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line.strip() for line in result.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines[-1] == INTERRUPTED and result.stderr.count(INTERRUPTED) == 1, result.stderr[-3000:]
    assert not [line for line in lines if line.startswith("error")]
    done = store_pngs(tmp_path / "store")  # decodes every file: a torn PNG fails here
    assert 0 < len(done) < 2 * N
    assert not list((tmp_path / "store").rglob("*.lock")) and not list((tmp_path / "store").rglob("*.tmp*"))

    check(run_cli(args, cwd=tmp_path, env=env))
    assert len(store_pngs(tmp_path / "store")) == 2 * N
    assert len(pd.read_parquet(tmp_path / "run" / "manifest.parquet")) == N
