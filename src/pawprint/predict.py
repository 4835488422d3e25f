"""`pawprint predict`: classify new image files with a trained model, preprocessed exactly as the test split.

The test split was decoded by `data.cache` (shorter side to the cache size, centre square) and fed through
`inference.logits` (resize to the model's size, normalise); a new photo takes the same two functions, so a
model scores on new files as it scored in `evaluate`. The checkpoint (or the MLflow model's metadata) carries
the classes, image size and cache size, so no params.yaml is needed.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pawprint import inference, models
from pawprint.data.build import decode_all
from pawprint.errors import PawprintError
from pawprint.paths import STUDENTS_DIR, TEACHERS_DIR

MLFLOW_SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/", "file:/", "s3://", "http://", "https://")


@dataclass(frozen=True)
class Predictor:
    model: torch.nn.Module
    classes: list[str]
    image_size: int
    cache_size: int

    def probabilities(self, images: np.ndarray) -> torch.Tensor:
        return inference.logits(self.model, images, self.image_size).softmax(1)


class _Exported(torch.nn.Module):
    """An MLflow "pt2" model (a `torch.export` graph, already in inference form) refuses `.eval()` and `.to()`;
    held outside the module tree, it is loaded on the right device once and called as is."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.__dict__["exported"] = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.exported(x)


def _stage_checkpoint(name: str) -> Path:
    for folder in (STUDENTS_DIR, TEACHERS_DIR):
        if (folder / f"{name}.pt").exists():
            return folder / f"{name}.pt"
    known = sorted(p.stem for folder in (STUDENTS_DIR, TEACHERS_DIR) for p in folder.glob("*.pt"))
    raise PawprintError(
        f"--model {name!r}: no such model, checkpoint or MLflow URI; "
        f"trained models here: {', '.join(known) or 'none (run dvc repro)'}"
    )


def load(ref: str) -> Predictor:
    """A model named by its stage (`kd`, `resnet50`), a checkpoint path, or an MLflow model URI."""
    if ref.startswith(MLFLOW_SCHEMES):
        import mlflow

        from pawprint.tracking import use_store

        use_store()
        try:
            meta = mlflow.models.get_model_info(ref).metadata or {}
            dev = "cuda" if torch.cuda.is_available() else "cpu"
            model = _Exported(mlflow.pytorch.load_model(ref, map_location=dev))
        except Exception as exc:  # MLflow raises its own and OS errors for a missing run or model
            reason = str(exc).splitlines()[0][:120]
            raise PawprintError(f"--model {ref}: cannot load this MLflow model ({reason})") from exc
        if not {"classes", "image_size", "cache_size"} <= meta.keys():
            raise PawprintError(f"--model {ref}: not a pawprint model (its metadata lacks classes and sizes)")
        return Predictor(model, list(meta["classes"]), int(meta["image_size"]), int(meta["cache_size"]))
    path = Path(ref) if ref.endswith(".pt") or Path(ref).is_file() else _stage_checkpoint(ref)
    model, meta = models.load(path)
    return Predictor(model, meta["classes"], meta["image_size"], meta["cache_size"])


def image_files(paths: list[str]) -> list[Path]:
    """Files as given, folders searched recursively in sorted order (every file: non-images get an error)."""
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            files.append(path)
        else:
            raise PawprintError(f"{raw}: no such file or folder")
    return files


@dataclass(frozen=True)
class Prediction:
    path: Path
    top: list[tuple[str, float]]  # (class, probability), most likely first; empty when error is set
    error: str = ""


def predict(predictor: Predictor, files: list[Path], top_k: int = 1) -> list[Prediction]:
    decoded = decode_all(files, predictor.cache_size)
    good = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
    out = [Prediction(f, [], str(d)) if isinstance(d, str) else None for f, d in zip(files, decoded)]
    if good:
        probs = predictor.probabilities(np.stack([decoded[i] for i in good]))
        k = min(top_k, len(predictor.classes))
        values, indices = probs.topk(k, dim=1)
        for row, i in enumerate(good):
            top = [(predictor.classes[c], float(p)) for p, c in zip(values[row], indices[row])]
            out[i] = Prediction(files[i], top)
    return out


def write_csv(predictions: list[Prediction], top_k: int, path: Path) -> None:
    header = ["path"] + [f"{col}_{rank}" for rank in range(1, top_k + 1) for col in ("class", "probability")]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*header, "error"])
        for p in predictions:
            cells = [v for cls, prob in p.top for v in (cls, f"{prob:.4f}")]
            cells += [""] * (len(header) - 1 - len(cells))
            writer.writerow([str(p.path), *cells, p.error])


def run(model: str, paths: list[str], top_k: int = 1, csv_path: str | None = None) -> int:
    """Print one line per file; exit status 1 only if no file could be classified."""
    if top_k < 1:
        raise PawprintError(f"--top-k {top_k}: must be at least 1")
    files = image_files(paths)
    if not files:
        raise PawprintError(f"{' '.join(paths)}: no files to classify")
    predictions = predict(load(model), files, top_k)
    for p in predictions:
        if p.error:
            print(f"{p.path}\terror: {p.error}", file=sys.stderr)
        else:
            print(f"{p.path}\t" + "\t".join(f"{cls} {prob:.3f}" for cls, prob in p.top))
    if csv_path:
        write_csv(predictions, top_k, Path(csv_path))
    classified = sum(not p.error for p in predictions)
    print(f"classified {classified} of {len(predictions)} files", file=sys.stderr)
    return 0 if classified else 1
