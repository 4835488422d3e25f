"""The GPU tier (`pytest -m gpu`): skipped without CUDA. On a machine with one it checks that training really
ran there: the module and every batch on the GPU, augmentation included, in bf16 (or fp16) mixed precision,
and that the tiny pipeline's training stages pass through the same path under `dvc repro`."""

import json

import numpy as np
import pytest
import torch

from tests.helpers import make_pipeline_repo, pipeline_env, run

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_training_runs_on_the_gpu_with_augmentation_there_and_mixed_precision(isolated_env):
    import pytorch_lightning as pl

    from pawprint import models
    from pawprint.augment import SupervisedAugment
    from pawprint.config import OptimConfig, TrainConfig
    from pawprint.data.loaders import ArrayDataset, loader
    from pawprint.training import Module, fit

    seen = {}

    class Watch(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            images, _ = batch  # after on_after_batch_transfer: augmented, on its device
            seen.update(module=pl_module.device.type, batch=images.device.type, precision=trainer.precision)

    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.integers(0, 255, (64, 3, 40, 40), dtype=np.uint8), rng.integers(0, 2, 64))
    module = Module(models.build("mobilenet_v2", 2, 32), SupervisedAugment(32), 32, OptimConfig(epochs=2))
    fit(
        module, loader(data, 16, train=True), loader(data, 16, train=False), stage="gpu", max_epochs=2,
        train=TrainConfig(min_epochs=2, resume=False), plots_csv=isolated_env / "plots.csv", key="gpu",
        callbacks=(Watch(),),
    )  # fmt: skip
    expected = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    assert seen == {"module": "cuda", "batch": "cuda", "precision": expected}


def test_the_tiny_pipeline_trains_on_the_gpu(tmp_path):
    repo = make_pipeline_repo(tmp_path / "repo", lean=True)
    run(["dvc", "repro", "train_baseline", "train_teacher@resnet50"], repo, pipeline_env(repo))
    for path in ("metrics/students/baseline.json", "metrics/teachers/resnet50.json"):
        assert json.loads((repo / path).read_text())["epochs"] >= 1
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("pawprint")
    stages = {r.data.tags["stage"]: r for r in client.search_runs([exp.experiment_id])}
    for name in ("train_baseline", "train_teacher@resnet50"):
        assert stages[name].data.tags.get("accelerator") == "cuda", name
