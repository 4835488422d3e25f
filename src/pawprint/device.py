"""Picking the device and precision from what the machine really has.

Measured on a 2-core AMX CPU (README, "Speed"): bf16 autocast pays from 64 px up (MobileNetV2 182 -> 210
img/s at 64 px) but not at 32 px, where small kernels are overhead-bound. So `precision: auto` picks bf16 on
CPUs with native bf16 only from 64 px, and on GPUs bf16 where supported, else fp16 mixed. The memory layout
is always channels_last: it doubled MobileNetV2 training at 32 px (236 -> 494 img/s, AdamW, batch 64) and
left ResNet50 unchanged.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

FAST_CPU_MIN_SIZE = 64


@functools.cache
def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def accelerator() -> str:
    return "gpu" if torch.cuda.is_available() else "cpu"


def precision(requested: str, image_size: int) -> str:
    """Lightning precision string for the `train.precision` param."""
    if requested == "32":
        return "32-true"
    if requested in ("bf16", "16-mixed"):
        return "bf16-mixed" if requested == "bf16" else "16-mixed"
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_bf16() and image_size >= FAST_CPU_MIN_SIZE else "32-true"


def global_rank(devices: int) -> int:
    """Which process of a distributed run this is, known before Lightning starts (stages open the MLflow run
    first). torchrun sets RANK; Lightning's launcher re-executes the stage script with LOCAL_RANK and
    NODE_RANK set; a stage started by hand on node N, with NODE_RANK=N, is that node's first process."""
    if "RANK" in os.environ:
        return int(os.environ["RANK"])
    return int(os.environ.get("NODE_RANK", 0)) * devices + int(os.environ.get("LOCAL_RANK", 0))
