"""The software and hardware a run samples with: torch version, device name, torch threads and dtype.

Recorded in the manifest and summary.json; not in content keys (docs/reproducibility-and-store.md states the
tolerance).
"""

from __future__ import annotations

import platform

import torch


def device_name(device: torch.device) -> str:
    """The accelerator's name (`NVIDIA H200`), or the CPU's as the platform reports it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or device.type


def sampling_environment(device: torch.device, *, threads: int, dtype: str) -> dict[str, str | int]:
    """The manifest's environment columns."""
    return {
        "torch_version": torch.__version__,
        "device_name": device_name(device),
        "torch_threads": threads,
        "dtype": dtype,
    }
