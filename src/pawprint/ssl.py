"""SimCLR pretraining (Chen et al., 2020) with lightly's projection head and NT-Xent loss.

Validation uses the same contrastive loss on two views of the val images (labels unused), so early
stopping and best-epoch selection work as in every other stage. The loss alone does not say whether the
backbone learned anything a classifier can use, so each epoch also logs `val/knn_accuracy`: the val images
classified by their nearest labeled images in the backbone's feature space (lightly's `knn_predict`, the
usual monitor of self-supervised training). It is only watched, never used to pick an epoch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.utils.benchmarking import knn_predict

from pawprint.augment import SimCLRAugment, model_input
from pawprint.config import SimCLRConfig
from pawprint.data.loaders import as_tensor
from pawprint.models import Classifier
from pawprint.training import MONITOR, Module

KNN_K = 20


class KnnProbe(NamedTuple):
    """Labeled images as the kNN memory bank, and the val images it classifies."""

    bank_images: np.ndarray
    bank_labels: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    num_classes: int


def augment_from(cfg: SimCLRConfig, image_size: int) -> SimCLRAugment:
    return SimCLRAugment(
        size=image_size,
        cj_prob=cfg.cj_prob,
        cj_strength=cfg.cj_strength,
        min_scale=cfg.min_scale,
        random_gray_scale=cfg.random_gray_scale,
        gaussian_blur=cfg.gaussian_blur,
        hf_prob=cfg.hf_prob,
    )


class SimCLR(Module):
    has_accuracy = False  # no labels: epochs are always selected on the contrastive val loss

    def __init__(self, model: Classifier, cfg: SimCLRConfig, image_size: int, knn: KnnProbe | None = None):
        super().__init__(model, augment_from(cfg, image_size), image_size, cfg)
        self.knn = knn
        # The classifier head gets no gradient here (fine-tuning fits it); marked so, DDP does not wait for one.
        model.head.requires_grad_(False)
        dim = model.feature_dim
        self.projection = SimCLRProjectionHead(input_dim=dim, hidden_dim=dim, output_dim=cfg.projection_dim)
        # Under DDP the negatives come from every process, as on one big device; with one process lightly
        # gathers nothing (it checks the world size at each call), so this is always on.
        self.criterion = NTXentLoss(temperature=cfg.temperature, gather_distributed=True)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, _ = batch
        return tuple(self.augment(images).contiguous(memory_format=torch.channels_last) for _ in range(2))

    def _loss(self, batch) -> torch.Tensor:
        x0, x1 = batch
        z0 = self.projection(self.model.backbone(x0))
        z1 = self.projection(self.model.backbone(x1))
        return self.criterion(z0.float(), z1.float())

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.tally(loss, len(batch[0]))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self.log(MONITOR, self._loss(batch), on_epoch=True, prog_bar=True, batch_size=len(batch[0]), sync_dist=True)

    def _features(self, images: np.ndarray) -> torch.Tensor:
        batches = (as_tensor(images[i : i + 256]).to(self.device) for i in range(0, len(images), 256))
        return F.normalize(torch.cat([self.model.backbone(model_input(b, self.image_size)).float() for b in batches]))

    @torch.no_grad()
    def knn_accuracy(self) -> float:
        """Share of the probe's images whose nearest labeled images (cosine, k = 20) vote for their class."""
        k = self.knn
        bank = self._features(k.bank_images)
        labels = torch.as_tensor(k.bank_labels, device=bank.device)
        pred = knn_predict(self._features(k.images), bank.T, labels, k.num_classes, min(KNN_K, len(bank)), 0.1)
        return float((pred[:, 0].cpu() == torch.as_tensor(k.labels)).float().mean())

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        if self.knn is not None:  # every process holds the whole probe: the same value everywhere
            self.log("val/knn_accuracy", self.knn_accuracy())
