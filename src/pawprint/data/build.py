"""Decode once: every file of `data/raw` is decoded and resized a single time, broken ones are listed with
the reason, and each split is written as one uint8 array (the layout `data/cache.py` reads). PIL decodes a few
hundred full-size photos per second per core, far below what training consumes, so it happens here only.
"""

from __future__ import annotations

import csv
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


def scan(raw: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    classes = sorted(p.name for p in raw.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise PawprintError(f"{raw}: needs one sub-folder per class and at least two classes; rerun the prepare stage")
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
    raw: Path,
    files: list[Path],
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
                writer.writerow([files[i].relative_to(raw).as_posix(), int(labels[i]), classes[labels[i]]])
    (folder / "classes.json").write_text(json.dumps(classes) + "\n")


def build(raw: Path, out: Path, skipped_csv: Path, sizes: SplitSizes, cache_size: int, seed: int) -> dict[str, int]:
    """Decode, split and write; all split files are staged in one folder that replaces `out` at the end, so a
    failure (a full disk, a kill) leaves the previous splits whole."""
    files, labels, classes = scan(raw)
    decoded = decode_all(files, cache_size)
    keep = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
    chosen = draw(labels[keep], classes, sizes, seed)
    idx_per_split = {name: [keep[i] for i in chosen[name]] for name in SPLITS}
    with atomic_path(out) as staging:
        _write_splits(staging, raw, files, labels, classes, decoded, idx_per_split, cache_size)
    with atomic_path(skipped_csv) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "reason"])
        for f, d in zip(files, decoded):
            if isinstance(d, str):
                writer.writerow([f.relative_to(raw).as_posix(), d])
    return {"kept": len(keep), "skipped": len(files) - len(keep)}
