"""Decode once: every file of `data/raw` is decoded and resized a single time, broken ones are listed with
the reason, and each split is written as one uint8 array (the layout `data/cache.py` reads). PIL decodes a few
hundred full-size photos per second per core, far below what training consumes, so it happens here only.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from pawprint.data.images import UnusableImage, load_rgb, square
from pawprint.data.splits import SPLITS, SplitSizes, draw
from pawprint.errors import PawprintError
from pawprint.paths import atomic_path
from pawprint.progress import track


def scan(raw: Path, what: str = "") -> tuple[list[Path], np.ndarray, list[str]]:
    classes = sorted(p.name for p in raw.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise PawprintError(
            f"{what or raw}: needs one sub-folder per class and at least two classes; rerun the prepare stage"
        )
    files, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((raw / name).rglob("*")):
            if file.is_file():
                files.append(file)
                labels.append(label)
    return files, np.asarray(labels, dtype=np.int64), classes


def _decode(args: tuple[Path, int]) -> np.ndarray | str:
    path, size = args
    try:
        return square(load_rgb(path, size), size)
    except UnusableImage as exc:
        return str(exc)


def decode_all(files: list[Path], size: int) -> list[np.ndarray | str]:
    """Each file as a (3, size, size) array, or the reason it was dropped; both cores share the work."""
    workers = min(os.cpu_count() or 1, 8)
    jobs = [(f, size) for f in files]
    if workers == 1 or len(files) < 256:
        return list(track(map(_decode, jobs), len(jobs), "decoding"))
    with ProcessPoolExecutor(workers) as pool:
        return list(track(pool.map(_decode, jobs, chunksize=64), len(jobs), "decoding"))


def _write_splits(
    folder: Path,
    names: list[str],
    labels: np.ndarray,
    classes: list[str],
    decoded: list,
    idx_per_split: dict[str, list[int]],
    cache_size: int,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, idx in idx_per_split.items():
        array = np.stack([decoded[i] for i in idx]) if idx else np.zeros((0, 3, cache_size, cache_size), np.uint8)
        with open(folder / f"{name}.npy", "wb") as fh:
            np.save(fh, array)
        with open(folder / f"{name}.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "label", "class"])
            for i in idx:
                writer.writerow([names[i], int(labels[i]), classes[labels[i]]])
    (folder / "classes.json").write_text(json.dumps(classes) + "\n")


def _content_digests(files: list[Path]) -> dict[str, Path]:
    return {hashlib.sha256(f.read_bytes()).hexdigest(): f for f in files}


def check_test_folder(test_raw: Path, classes: list[str], train_files: list[Path]) -> tuple[list[Path], np.ndarray]:
    """The test folder's files and labels, refused when its classes differ from the training folder's or when
    it holds an image the training folder holds too (a test image seen in training measures nothing)."""
    files, labels, test_classes = scan(test_raw, "data.test_folder")
    if test_classes != classes:
        raise PawprintError(
            f"data.test_folder: its classes ({', '.join(test_classes)}) differ from the training folder's "
            f"({', '.join(classes)}); it needs the same class sub-folders"
        )
    train = _content_digests(train_files)
    shared = [f for digest, f in _content_digests(files).items() if digest in train]
    if shared:
        raise PawprintError(
            f"data.test_folder shares {len(shared)} images with the training folder (e.g. "
            f"{shared[0].relative_to(test_raw).as_posix()}): remove them from one of the two"
        )
    return files, labels


def build(
    raw: Path,
    out: Path,
    skipped_csv: Path,
    sizes: SplitSizes,
    cache_size: int,
    seed: int,
    test_raw: Path | None = None,
) -> dict[str, int]:
    """Decode, split and write; all split files are staged in one folder that replaces `out` at the end, so a
    failure (a full disk, a kill) leaves the previous splits whole.

    With a non-empty `test_raw` (the `data.test_folder`, or CIFAR-10's official test set) its usable images
    are the whole test split, `sizes.test` is unused, and every other split is drawn from `raw` as without it.
    Its paths are written as `test/<class>/<file>`."""
    files, labels, classes = scan(raw)
    names = [f.relative_to(raw).as_posix() for f in files]
    own_test = test_raw is not None and test_raw.is_dir() and any(test_raw.iterdir())
    if own_test:
        test_files, test_labels = check_test_folder(test_raw, classes, files)
        sizes = dataclasses.replace(sizes, test=0)
        names += [f"test/{f.relative_to(test_raw).as_posix()}" for f in test_files]
        files, labels = files + test_files, np.concatenate([labels, test_labels])
    decoded = decode_all(files, cache_size)
    usable = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
    pool = [i for i in usable if not names[i].startswith("test/")] if own_test else usable
    chosen = draw(labels[pool], classes, sizes, seed)
    idx_per_split = {name: [pool[i] for i in chosen[name]] for name in SPLITS}
    if own_test:
        idx_per_split["test"] = [i for i in usable if names[i].startswith("test/")]
    with atomic_path(out) as staging:
        _write_splits(staging, names, labels, classes, decoded, idx_per_split, cache_size)
    with atomic_path(skipped_csv) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "reason"])
        for name, d in zip(names, decoded):
            if isinstance(d, str):
                writer.writerow([name, d])
    return {"kept": len(usable), "skipped": len(files) - len(usable)}
