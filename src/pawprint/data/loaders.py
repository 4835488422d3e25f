"""Batches straight from the cached uint8 arrays: no decoding, no per-image transform, no worker processes.

Augmentation happens later on the whole batch on its device (`augment.py`), so the loader only gathers rows.
A plain `DataLoader` over a map-style dataset keeps Lightning's DDP sampler injection working: under several
processes each one is handed its own shard of the indices.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pawprint.data.cache import Split

UNLABELED = -1  # the label of a pool image: it has none (the KD loss gives such images only the soft term)


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images as a tensor. The split caches are memory-mapped read-only, and a tensor sharing a read-only
    array must never be written (torch warns at every call): those are copied; fresh arrays are shared."""
    return torch.from_numpy(images if images.flags.writeable else np.array(images))


class ArrayDataset(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images = images
        self.labels = torch.as_tensor(labels, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return as_tensor(self.images[index]), self.labels[index]

    def __getitems__(self, indices: list[int]):
        """One fancy-index per batch instead of one row at a time (DataLoader calls this when it exists)."""
        idx = np.asarray(indices)
        return as_tensor(self.images[idx]), self.labels[idx]


def _as_batch(batch):
    return batch


def loader(dataset: ArrayDataset, batch_size: int, *, train: bool, processes: int = 1) -> DataLoader:
    """Training drops the last partial batch only when a process's shard holds more than one batch: 200
    labels on 8 GPUs are shards of 25, which dropping the remainder of would leave with nothing to train on."""
    shard = -(-len(dataset) // processes)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        drop_last=train and shard > batch_size,
        collate_fn=_as_batch,
        num_workers=0,
    )


def labeled(split: Split) -> ArrayDataset:
    return ArrayDataset(split.images, split.labels)


def unlabeled(split: Split) -> ArrayDataset:
    """The pool's labels exist on disk (for diagnostics) but never reach training."""
    return ArrayDataset(split.images, np.full(len(split), UNLABELED, dtype=np.int64))


def concat(*datasets: ArrayDataset) -> ArrayDataset:
    images = np.concatenate([np.asarray(d.images) for d in datasets])
    labels = torch.cat([d.labels for d in datasets]).numpy()
    return ArrayDataset(images, labels)
