"""Running the real command line in a subprocess and reading back what it wrote: PNGs, parquet, W&B files.

Shared by the end-to-end tests (test_cli.py, test_shards.py); every run gets its own W&B and cache dirs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
BASE_STEPS = 3
UPSAMPLE_STEPS = 2
# The tiny random-weight model at a few steps: every image is noise, but every path of the real run is taken.
TINY = [
    "model=tiny",
    f"sampler.base_steps={BASE_STEPS}",
    f"sampler.upsample_steps=ddim{UPSAMPLE_STEPS}",
    "sampler.dtype=fp32",
]
# Everything that could point wandb at a login, a server, a mode or a directory other than the test's own.
WANDB_VARIABLES = [
    "WANDB_API_KEY",
    "WANDB_IDENTITY_TOKEN_FILE",
    "WANDB_MODE",
    "WANDB_BASE_URL",
    "WANDB_DIR",
    "WANDB_PROJECT",
    "WANDB_ENTITY",
    "WANDB_RUN_GROUP",
    "WANDB_JOB_TYPE",
    "WANDB_TAGS",
    "WANDB_NAME",
    "WANDB_RUN_ID",
    "WANDB_RESUME",
]
# The manifest columns every run dir has (the run-dir contract), besides one `tag.<name>` column per tag.
MANIFEST_COLUMNS = [
    "key",
    "base_key",
    "suite",
    "prompt_id",
    "prompt",
    "expected_class",
    "seed",
    "guidance_scale",
    "base_steps",
    "upsample_steps",
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


def read_transaction_log(path: Path) -> list:
    """The records of a `.wandb` file: a leveldb-style log (32 KiB blocks, 7-byte chunk headers) after a 7-byte
    file header; each record is one wandb protobuf `Record`, split into FIRST/MIDDLE/LAST chunks across blocks."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, position, pending, records = 32768, 7, b"", []
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block tail too short for a header is zero padding
            position += block - position % block
            continue
        length = int.from_bytes(data[position + 4 : position + 6], "little")
        kind = data[position + 6]
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # FULL or LAST chunk: the record is complete
            record = Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _records_by_type(log_file: Path, timeout_s: float = 30.0) -> dict[str, list]:
    """Wait for the exit record (the wandb service may still be writing when the run's process ends)."""
    deadline = time.monotonic() + timeout_s
    while True:
        by_type: dict[str, list] = {}
        for record in read_transaction_log(log_file):
            by_type.setdefault(record.WhichOneof("record_type"), []).append(record)
        if "exit" in by_type or time.monotonic() > deadline:
            return by_type
        time.sleep(0.1)


def offline_runs(parent: Path) -> list[SimpleNamespace]:
    """Each offline W&B run under `<parent>/wandb/`, oldest first: its run record, config, summary and dir."""
    runs = []
    for run_dir in sorted((parent / "wandb").glob("offline-run-*")):
        (log_file,) = run_dir.glob("run-*.wandb")
        by_type = _records_by_type(log_file)
        (run,) = [record.run for record in by_type["run"]]
        summary: dict = {}
        for record in by_type.get("summary", []):
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        config = {item.key: json.loads(item.value_json) for item in run.config.update if item.key != "_wandb"}
        runs.append(SimpleNamespace(dir=run_dir, run=run, config=config, summary=summary, by_type=by_type))
    return runs


def wandb_table(run: SimpleNamespace, name: str) -> dict:
    """The table W&B wrote into the run's files for the summary key `name` (columns and data)."""
    return json.loads((run.dir / "files" / run.summary[f"{name}/path"]).read_text())


def staged_table(run: SimpleNamespace, name: str) -> dict:
    """The full table (image cells included) that the run's table artifact stages for upload."""
    (entry,) = [
        entry
        for record in run.by_type["artifact"]
        for entry in record.artifact.manifest.contents
        if entry.path == f"{name}.table.json"
    ]
    return json.loads(Path(entry.local_path).read_text())
