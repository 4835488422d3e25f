"""Where images come from: each source materialises `data/raw/<class>/<file>` and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from pawprint.config import DataConfig
from pawprint.data import cifar, kaggle
from pawprint.errors import PawprintError


def prepare_digits(out: Path) -> None:
    """scikit-learn's handwritten digits: 1,797 real 8x8 scans that ship inside the package (no network).

    Written as 32x32 RGB PNGs (the 0-16 ink levels stretched to 0-255) so every later stage treats them like
    any photo collection.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index, (pixels, label) in enumerate(zip(digits.images, digits.target)):
        gray = np.clip(pixels * (255.0 / 16.0), 0, 255).astype(np.uint8)
        img = Image.fromarray(gray, mode="L").resize((32, 32), Image.Resampling.BICUBIC).convert("RGB")
        folder = out / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        img.save(folder / f"{index:04d}.png")


def prepare_folder(src: Path, out: Path) -> None:
    """Any folder with one sub-folder per class; files are linked, not copied, when the filesystem allows."""
    if not src.is_dir():
        raise PawprintError(f"data.folder = {str(src)!r}: no such folder; point it at a folder of class folders")
    classes = sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise PawprintError(f"data.folder = {str(src)!r}: needs at least two class sub-folders, found {len(classes)}")
    for cls in classes:
        dest = out / cls.name
        dest.mkdir(parents=True)
        for file in sorted(cls.iterdir()):
            if file.is_file():
                try:
                    (dest / file.name).hardlink_to(file)
                except OSError:
                    shutil.copy2(file, dest / file.name)


def prepare(cfg: DataConfig, out: Path) -> None:
    if cfg.source == "digits":
        prepare_digits(out)
    elif cfg.source == "folder":
        prepare_folder(Path(cfg.folder).expanduser(), out)
    elif cfg.source == "kaggle":
        kaggle.download(cfg.kaggle_slug, out)
    elif cfg.source == "cifar10":
        cifar.download(out)
