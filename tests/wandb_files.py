"""Reading W&B offline runs back from disk: the `.wandb` transaction log, and the tables in the run's files.

Shared by the tracking tests and the end-to-end CLI tests; nothing here talks to a server.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

# Every environment variable that could point wandb at a login, a server, a mode or another directory.
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


def read_transaction_log(path: Path) -> list:
    """The records of a `.wandb` file: a leveldb-style log (32 KiB blocks, 7-byte chunk headers) after a
    7-byte file header, each record one wandb protobuf `Record`, split into FIRST/MIDDLE/LAST chunks
    when it crosses a block."""
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


def completed_records(log_file: Path, timeout_s: float = 30.0) -> dict[str, list]:
    """The records of a finished run by type. The wandb service writes the file in the background and
    may still be at it when the run (or its process) has ended, so wait for the exit record, which comes last."""
    deadline = time.monotonic() + timeout_s
    while True:
        by_type: dict[str, list] = {}
        for record in read_transaction_log(log_file):
            by_type.setdefault(record.WhichOneof("record_type"), []).append(record)
        if "exit" in by_type or time.monotonic() > deadline:
            return by_type
        time.sleep(0.05)


def read_offline_run(run_dir: Path) -> SimpleNamespace:
    """One offline run dir (`offline-run-*`): its run record, summary, config, custom charts and records."""
    (log_file,) = run_dir.glob("run-*.wandb")
    by_type = completed_records(log_file)
    (run,) = [record.run for record in by_type["run"]]
    summary: dict = {}
    for record in by_type.get("summary", []):
        for item in record.summary.update:
            summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    config = {item.key: json.loads(item.value_json) for item in run.config.update if item.key != "_wandb"}
    # Custom charts are registered in the config under _wandb.visualize.<chart name>.
    charts = {
        item.nested_key[2]: json.loads(item.value_json)
        for record in by_type.get("config", [])
        for item in record.config.update
        if list(item.nested_key[:2]) == ["_wandb", "visualize"]
    }
    return SimpleNamespace(dir=run_dir, run=run, summary=summary, config=config, charts=charts, by_type=by_type)


def offline_runs(parent: Path) -> list[SimpleNamespace]:
    """Each offline run under `<parent>/wandb/`, oldest first."""
    return [read_offline_run(run_dir) for run_dir in sorted((parent / "wandb").glob("offline-run-*"))]


def table_json(run: SimpleNamespace, name: str) -> dict:
    """The table W&B wrote into the run's files for the summary key `name` (columns and data)."""
    return json.loads((run.dir / "files" / run.summary[f"{name}/path"]).read_text())


def staged_table_json(run: SimpleNamespace, name: str) -> dict:
    """The full table (image cells included) that the run's table artifact stages for upload."""
    (entry,) = [
        entry
        for record in run.by_type["artifact"]
        for entry in record.artifact.manifest.contents
        if entry.path == f"{name}.table.json"
    ]
    return json.loads(Path(entry.local_path).read_text())
