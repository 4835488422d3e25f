"""Batched inference on cached arrays, shared by evaluation, distillation caches and `pawprint predict`."""

from __future__ import annotations

import numpy as np
import torch

from pawprint import device
from pawprint.augment import model_input
from pawprint.data.loaders import as_tensor


def logits(
    model: torch.nn.Module, images: np.ndarray, image_size: int, batch_size: int = 256, precision: str = "auto"
) -> torch.Tensor:
    """(N, classes) float32 logits for uint8 (N, 3, S, S) images, in evaluation mode, on the best device.

    `precision` as `train.precision`; export checks its ONNX file against the fp32 path ("32").
    """
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.eval().to(dev)
    model = model.to(memory_format=torch.channels_last)
    mixed = device.precision(precision)
    out = []
    with torch.inference_mode():  # after moving the model: parameters made in inference mode break autograd later
        for start in range(0, len(images), batch_size):
            batch = as_tensor(images[start : start + batch_size]).to(dev)
            x = model_input(batch, image_size)
            with device.autocast(mixed, dev.type):
                out.append(model(x).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)
