"""ONNX and TorchScript copies of both student architectures give PyTorch's probabilities (the parity the
export stage enforces), and the speed numbers are measured, not made up."""

import copy
import time

import numpy as np
import pytest
import torch

from pawprint import export, models


@pytest.mark.parametrize("arch", ["mobilenet_v2", "small_cnn"])
def test_exported_files_match_pytorch_on_images(arch, tmp_path):
    torch.manual_seed(0)
    model = models.build(arch, 3, 32)
    model.train()  # a few steps would change batch-norm statistics; export must still use eval mode
    images = np.random.default_rng(0).integers(0, 255, (40, 3, 36, 36), dtype=np.uint8)
    example = export.example_input(images[:2], 32)
    export.to_onnx(model, example, tmp_path / "m.onnx")
    export.to_torchscript(model, example, tmp_path / "m.ts.pt")
    reference = export.reference_probabilities(model, images, 32)
    for runner in (export.onnx_runner(tmp_path / "m.onnx"), export.torchscript_runner(tmp_path / "m.ts.pt")):
        assert export.max_probability_gap(reference, runner, images, 32) < export.PARITY_TOLERANCE
    other = copy.deepcopy(model)
    with torch.no_grad():
        [*_, last] = (m for m in other.head.modules() if isinstance(m, torch.nn.Linear))
        last.bias[0] += 1.0  # a different model: the check must see it
    assert export.max_probability_gap(reference, export.torch_runner(other), images, 32) > 0.1


def test_speed_reports_latency_and_throughput_of_the_runner():
    calls = []

    def runner(x):
        calls.append(len(x))
        time.sleep(0.002)
        return x

    speed = export.speed(runner, np.zeros((2, 3, 8, 8), dtype=np.float32))
    assert 2 <= speed["latency_ms_batch1"] < 20 and 64 / 0.02 < speed["images_per_s_batch64"] <= 64 / 0.002
    assert calls.count(1) == 21 and calls.count(64) == 6  # one warm-up call each, then the timed repeats
