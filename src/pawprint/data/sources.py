"""Where images come from: each source materialises `data/raw/<class>/<file>`, and `data/raw_test` the
dataset's own test images when it has them (`data.test_folder`, CIFAR-10's official test set), else nothing."""

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


def prepare_folder(src: Path, out: Path, key: str = "data.folder") -> None:
    """Any folder with one sub-folder per class; files are linked, not copied, when the filesystem allows."""
    if not src.is_dir():
        raise PawprintError(f"{key} = {str(src)!r}: no such folder; point it at a folder of class folders")
    classes = sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise PawprintError(f"{key} = {str(src)!r}: needs at least two class sub-folders, found {len(classes)}")
    for cls in classes:
        dest = out / cls.name
        dest.mkdir(parents=True)
        for file in sorted(cls.iterdir()):
            if file.is_file():
                try:
                    (dest / file.name).hardlink_to(file)
                except OSError:
                    shutil.copy2(file, dest / file.name)


def prepare(cfg: DataConfig, out: Path, test_out: Path) -> None:
    """The training images into `out`, the dataset's own test images (if any) into `test_out`."""
    test_folder = Path(cfg.test_folder).expanduser() if cfg.test_folder else None
    if test_folder and not test_folder.is_dir():  # before a download of minutes, not after
        raise PawprintError(f"data.test_folder = {cfg.test_folder!r}: no such folder; give a folder of class folders")
    if cfg.source == "digits":
        prepare_digits(out)
    elif cfg.source == "folder":
        prepare_folder(Path(cfg.folder).expanduser(), out)
    elif cfg.source == "kaggle":
        kaggle.download(cfg.kaggle_slug, out)
    elif cfg.source == "cifar10":
        cifar.download(out, test_out)
    if test_folder:
        prepare_folder(test_folder, test_out, key="data.test_folder")
