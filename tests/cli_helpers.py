"""Running the real command line in a subprocess and reading back what it wrote: PNGs, parquet, W&B files.

Shared by the end-to-end tests (test_cli.py, test_shards.py); every run gets its own W&B and cache dirs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from wandb_files import WANDB_VARIABLES

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
EXPERIMENTS = REPO / "experiments"
BASE_STEPS = 3
UPSAMPLE_STEPS = 2
# The tiny random-weight model at a few steps: every image is noise, but every path of the real run is taken.
TINY = [
    "model=tiny",
    f"sampler.base_steps={BASE_STEPS}",
    f"sampler.upsample_steps=ddim{UPSAMPLE_STEPS}",
    "sampler.dtype=fp32",
]
# The manifest columns every run dir has (the run-dir contract), besides one `tag.<name>` column per tag.
MANIFEST_COLUMNS = [
    "key",
    "base_key",
    "suite",
    "prompt_id",
    "prompt",
    "expected_class",
    "objects",
    "phrases",
    "seed",
    "guidance",
    "guidance_scale",
    "base_loop",
    "base_steps",
    "base_eta",
    "upsample_loop",
    "upsample_steps",
    "upsample_eta",
    "upsample_temp",
    "model_id",
    "random_weights",
    "path_64",
    "path_256",
    "time_base_s",
    "time_up_s",
]


def cli_env(home: Path) -> dict[str, str]:
    """The environment of a CLI run: offline W&B with its dirs under `home`, one thread, no login."""
    env = {k: v for k, v in os.environ.items() if k not in WANDB_VARIABLES and k != "HYDRA_FULL_ERROR"}
    for variable, folder in [
        ("WANDB_DIR", "wandb"),
        ("WANDB_CACHE_DIR", "wandb_cache"),
        ("WANDB_CONFIG_DIR", "wandb_config"),
        ("WANDB_DATA_DIR", "wandb_data"),
        ("GLIDE_CACHE", "glide_cache"),
        ("HF_HOME", "hf_home"),  # the scorers' weights: empty, so nothing a developer fetched leaks in
        ("TORCH_HOME", "torch_home"),
    ]:
        (home / folder).mkdir(parents=True, exist_ok=True)
        env[variable] = str(home / folder)
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        NETRC=str(home / "netrc"),  # absent: no login from a netrc file
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    return env


def command(args: list[str], module: str = "harness") -> list[str]:
    return [sys.executable, "-m", module, *args]


def run_cli(
    args: list[str], *, cwd: Path, env: dict[str, str], module: str = "harness", timeout: float = 600
) -> subprocess.CompletedProcess:
    """`python -m <module> ARGS` in `cwd`; the result keeps stdout and stderr apart."""
    return subprocess.run(command(args, module), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """`result`, or an AssertionError showing the end of its stderr when it failed."""
    assert result.returncode == 0, f"{' '.join(result.args)}\nexit {result.returncode}\n{result.stderr[-4000:]}"
    return result


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def files_under(root: Path) -> list[str]:
    """Every path below `root` (files and dirs), relative and sorted; empty when `root` does not exist."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def store_pngs(store: Path) -> dict[str, np.ndarray]:
    """Every PNG of a sample store, by path relative to the store, decoded in full (a torn file fails here)."""
    images = {}
    for path in sorted(store.rglob("*.png")):
        with Image.open(path) as image:
            image.load()
            images[str(path.relative_to(store))] = np.asarray(image)
    return images


def image_info(path: str | Path) -> tuple[str, tuple[int, int], np.dtype]:
    with Image.open(path) as image:
        return image.mode, image.size, np.asarray(image).dtype
