"""The decoded splits as training reads them: each split is one uint8 array, memory-mapped, so training never
touches a JPEG (`data/build.py` decodes every image once, in the `split` stage).

Layout of `data/splits/`: `<split>.npy` (N, 3, S, S) uint8, `<split>.csv` (path, label, class) and
`classes.json`; files dropped while decoding are listed in `data/reports/skipped.csv`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pawprint.errors import PawprintError


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 3, S, S) uint8, usually memory-mapped
    labels: np.ndarray  # (N,) int64; the unlabeled pool keeps them only for diagnostics, training ignores them
    paths: list[str]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def classes(folder: Path) -> list[str]:
    try:
        return json.loads((Path(folder) / "classes.json").read_text())
    except FileNotFoundError as exc:
        raise PawprintError(f"{exc.filename}: missing; run `dvc repro split` first") from exc


def load(folder: Path, name: str) -> Split:
    folder = Path(folder)
    try:
        images = np.load(folder / f"{name}.npy", mmap_mode="r")
        with open(folder / f"{name}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError as exc:
        raise PawprintError(f"{exc.filename}: missing; run `dvc repro split` first") from exc
    labels = np.asarray([int(r["label"]) for r in rows], dtype=np.int64)
    return Split(images=images, labels=labels, paths=[r["path"] for r in rows], classes=classes(folder))
