"""Deployable copies of a trained model, checked and measured: the numbers that motivate distillation.

ONNX goes through the dynamo exporter (`torch.onnx.export(dynamo=True)`, the supported path since torch 2.9;
the TorchScript-based exporter is deprecated) and runs in ONNX Runtime; TorchScript (`torch.jit.trace`,
deprecated upstream but still what C++ and mobile runtimes load) is kept for those users. Both take the
normalised float input that `augment.model_input` makes, with a dynamic batch dimension.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pawprint import inference
from pawprint.augment import model_input
from pawprint.data.loaders import as_tensor
from pawprint.paths import atomic_path

# Max abs difference of class probabilities, exported vs PyTorch fp32: the relative tolerance of PyTorch's ONNX
# Runtime tutorial. The runtimes sum in another order, and a network whose batch-norm variances are small (an
# undertrained one, with statistics recomputed by precise BN) amplifies that past 1e-4; an export bug (other
# preprocessing, a layer left in training mode) moves probabilities by 1e-2 and more.
PARITY_TOLERANCE = 1e-3


def example_input(images: np.ndarray, image_size: int) -> torch.Tensor:
    return model_input(as_tensor(images), image_size).contiguous()


def to_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress notes
        program = torch.onnx.export(
            model.eval(), (example,), dynamo=True, input_names=["image"], output_names=["logits"],
            dynamic_shapes=({0: batch},), verbose=False,
        )  # fmt: skip
        program.save(str(tmp))


def to_torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.trace is deprecated": see module doc
        torch.jit.save(torch.jit.trace(model.eval(), example), str(tmp))


def onnx_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"image": x})[0]


def torch_runner(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """A PyTorch module (eager, or TorchScript loaded with `torchscript_runner`) on the CPU, numpy in and out."""
    model = model.eval().cpu()

    @torch.inference_mode()
    def run(x: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(x)).numpy()

    return run


def torchscript_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    return torch_runner(torch.jit.load(str(path), map_location="cpu"))


def reference_probabilities(model: torch.nn.Module, images: np.ndarray, image_size: int) -> np.ndarray:
    """PyTorch's class probabilities in fp32 (as the exported files compute), once for every format checked."""
    return inference.logits(model, images, image_size, precision="32").softmax(1).numpy()


def max_probability_gap(reference: np.ndarray, runner, images: np.ndarray, image_size: int) -> float:
    """Largest |p_exported - p_pytorch| over the images and classes."""
    gap = 0.0
    for start in range(0, len(images), 256):
        x = example_input(images[start : start + 256], image_size).numpy()
        probs = torch.from_numpy(runner(x)).float().softmax(1).numpy()
        gap = max(gap, float(np.abs(probs - reference[start : start + 256]).max()))
    return gap


def timing(runner, example: np.ndarray, batch: int, repeats: int) -> float:
    """Median seconds per call on a batch of `batch` copies of the example, after one warm-up call."""
    x = np.ascontiguousarray(np.repeat(example[:1], batch, axis=0))
    runner(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(runner, example: np.ndarray) -> dict[str, float]:
    """CPU latency per image at batch 1 (what one user request waits) and throughput at batch 64."""
    return {
        "latency_ms_batch1": round(1000 * timing(runner, example, 1, repeats=20), 3),
        "images_per_s_batch64": round(64 / timing(runner, example, 64, repeats=5), 1),
    }
