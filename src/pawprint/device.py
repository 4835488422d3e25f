"""Picking the device and precision from what the machine really has.

`precision: auto` on a CPU with native bf16 (AVX-512 BF16 or AMX) uses bf16: ResNet50, VGG16 and the small CNN
train faster in it even at 32 px. Networks built on depthwise convolutions (MobileNetV2) still train in fp32
there, because their backward pass is slower in bf16, and predict in bf16. So does a network with a strided
convolution that meets a 1x1 map at the training size (ResNet50 below 17 px): oneDNN's bf16 weight gradient
for it reads uninitialised memory, so its weights turn NaN in some runs and not in others (docs/design.md);
an explicit `bf16` is kept there, with a warning.
A CPU without native bf16 only emulates it, far slower than fp32, so it stays in fp32. GPUs: bf16 where
supported, else fp16 mixed. The memory layout is always channels_last, which is faster for every network
here. The measurements behind each rule are in docs/speed.md.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from pathlib import Path

import torch
from torch import nn


@functools.cache
def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def accelerator() -> str:
    """Lightning's own choice: a CUDA GPU, an Apple GPU (MPS), else the CPU."""
    return "auto"


def depthwise(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in model.modules())


def strided_on_one_pixel(model: nn.Module, image_size: int) -> bool:
    """Whether a strided convolution wider than 1x1 gets a 1x1 map when `model` sees `image_size` images."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    strided = [m for m in convs if max(m.stride) > 1 and max(m.kernel_size) > 1]
    if not strided:
        return False
    seen: list[bool] = []
    hooks = [m.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[-2:] == (1, 1))) for m in strided]
    training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, convs[0].in_channels, image_size, image_size))
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return any(seen)


def precision(requested: str, trains: nn.Module | None = None, image_size: int = 0) -> str:
    """Lightning precision string for the `train.precision` param; `trains`: the network being trained
    (None for inference), on `image_size` images."""
    if requested == "32":
        return "32-true"
    if requested == "16-mixed":
        return "16-mixed"
    if torch.cuda.is_available():
        return "bf16-mixed" if requested == "bf16" or torch.cuda.is_bf16_supported() else "16-mixed"

    def nan_prone() -> bool:  # a forward pass: only where its answer changes what happens
        return trains is not None and bool(image_size) and strided_on_one_pixel(trains, image_size)

    if requested == "bf16":
        if nan_prone():  # asked for by name: kept, but not silently
            warnings.warn(
                f"train.precision: bf16 trains a network whose strided convolution meets a 1x1 map at "
                f"{image_size} px, where oneDNN's bf16 weight gradient can come out NaN on a CPU: set "
                "train.precision to auto or 32 (docs/design.md)",
                stacklevel=2,
            )
        return "bf16-mixed"
    if not cpu_has_bf16() or (trains is not None and depthwise(trains)) or nan_prone():
        return "32-true"
    return "bf16-mixed"


def autocast(lightning_precision: str, device_type: str) -> contextlib.AbstractContextManager:
    """The autocast of a Lightning precision string, for forward passes outside the Trainer's own."""
    if lightning_precision == "32-true":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if lightning_precision.startswith("bf16") else torch.float16
    return torch.autocast(device_type, dtype=dtype)


def global_rank(devices: int) -> int:
    """Which process of a distributed run this is, known before Lightning starts (stages open the MLflow run
    first). torchrun sets RANK; Lightning's launcher re-executes the stage script with LOCAL_RANK and
    NODE_RANK set; a stage started by hand on node N, with NODE_RANK=N, is that node's first process."""
    if "RANK" in os.environ:
        return int(os.environ["RANK"])
    return int(os.environ.get("NODE_RANK", 0)) * devices + int(os.environ.get("LOCAL_RANK", 0))
