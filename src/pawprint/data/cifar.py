"""CIFAR-10 through torchvision: the official train set is the pool the splits are drawn from, the official
test set is the whole test split (written apart, as a `data.test_folder` would be)."""

from __future__ import annotations

import tempfile
import urllib.error
from pathlib import Path

from pawprint.errors import PawprintError
from pawprint.progress import track


def download(out: Path, test_out: Path) -> None:
    from torchvision.datasets import CIFAR10

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".cifar-", dir=out.parent) as tmp:
        try:
            parts = {name: CIFAR10(tmp, train=name == "train", download=True) for name in ("train", "test")}
        except (urllib.error.URLError, OSError, RuntimeError) as exc:
            raise PawprintError(
                f"CIFAR-10 could not be downloaded ({str(exc).splitlines()[0][:120]}); it needs the network once "
                f"(or a copy of cifar-10-python.tar.gz); offline, use -S data.source=digits"
            ) from exc
        for name, dataset in parts.items():
            folder = out if name == "train" else test_out
            for cls in dataset.classes:
                (folder / cls).mkdir(parents=True, exist_ok=True)
            for index, (image, label) in enumerate(track(dataset, len(dataset), f"CIFAR-10 {name}: writing")):
                image.save(folder / dataset.classes[label] / f"{name}_{index:05d}.png")
