"""Picking the device, precision and memory layout from what the machine really has.

Measured on a 2-core AMX CPU (README, "Speed"): channels_last + bf16 autocast pays from 64 px up
(MobileNetV2 133 -> 210 img/s at 64 px) but gives nothing at 32 px, where small kernels are overhead-bound.
So `precision: auto` picks bf16 on CPUs with native bf16 only from 64 px, and on GPUs bf16 where supported,
else fp16 mixed.
"""

from __future__ import annotations

import functools
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


def channels_last(image_size: int) -> bool:
    return torch.cuda.is_available() or image_size >= FAST_CPU_MIN_SIZE
