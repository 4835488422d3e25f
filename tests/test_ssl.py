"""SimCLR's progress is visible: the backbone's kNN accuracy on val, every epoch, beside the contrastive loss."""

import numpy as np
import torch

from pawprint import models
from pawprint.config import SimCLRConfig, TrainConfig
from pawprint.data.loaders import ArrayDataset, loader
from pawprint.ssl import KnnProbe, SimCLR
from pawprint.training import fit


def two_tones(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 dark, class 1 bright: any backbone tells them apart, so kNN must find every class."""
    labels = np.arange(n) % 2
    base = np.where(labels[:, None, None, None] == 0, 30, 220)
    noise = rng.integers(-20, 20, (n, 3, 20, 20))
    return np.clip(base + noise, 0, 255).astype(np.uint8), labels


def test_knn_accuracy_finds_separable_classes_and_not_shuffled_labels():
    rng = np.random.default_rng(0)
    (bank, bank_y), (val, val_y) = two_tones(20, rng), two_tones(10, rng)
    torch.manual_seed(0)
    module = SimCLR(models.build("small_cnn", 2, 16), SimCLRConfig(), 16, KnnProbe(bank, bank_y, val, val_y, 2))
    assert module.knn_accuracy() == 1.0
    module.knn = KnnProbe(bank, bank_y, val, 1 - val_y, 2)  # every val label wrong
    assert module.knn_accuracy() == 0.0


def test_pretraining_logs_knn_accuracy_every_epoch(isolated_env):
    rng = np.random.default_rng(1)
    images, labels = two_tones(32, rng)
    torch.manual_seed(0)
    knn = KnnProbe(images[:16], labels[:16], images[16:], labels[16:], 2)
    module = SimCLR(models.build("small_cnn", 2, 16), SimCLRConfig(epochs=2), 16, knn)
    pool = ArrayDataset(images, np.full(32, -1))
    result = fit(
        module, loader(pool, 8, train=True), loader(pool, 8, train=False), stage="pretrain", max_epochs=2,
        train=TrainConfig(min_epochs=2, resume=False), plots_csv=isolated_env / "plots.csv", key="k",
    )  # fmt: skip
    assert [0 <= row["val/knn_accuracy"] <= 1 for row in result.history] == [True, True]
    assert "val/knn_accuracy" in (isolated_env / "plots.csv").read_text().splitlines()[0]
