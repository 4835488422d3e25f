"""Test metrics from scikit-learn: accuracy, per-class precision / recall / F1 / accuracy, confusion matrix;
and the per-epoch training record (`plots/<kind>/<model>.csv`) as the reports read it.

Per-class accuracy is the share of a class's images classified correctly (equal to its recall), as the
study's tables report it.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def classification(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    per_class_acc = np.divide(np.diag(cm), cm.sum(1), out=np.zeros(len(labels)), where=cm.sum(1) > 0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "macro_f1": float(np.mean(f1)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "accuracy": float(per_class_acc[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": cm.tolist(),
    }


def flat(prefix: str, result: dict) -> dict[str, float]:
    """MLflow metric names for one model's result: `<prefix>/accuracy`, `<prefix>/class/<name>/recall`, ..."""
    out = {f"{prefix}/{k}": v for k, v in result.items() if isinstance(v, float)}
    for name, values in result["per_class"].items():
        safe = re.sub(r"[^\w\-. ]", "_", name)  # MLflow accepts letters, digits, _ - . space and /
        out.update({f"{prefix}/class/{safe}/{k}": v for k, v in values.items() if k != "support"})
    return out


def read_curves(path: Path) -> dict[str, list[tuple[int, float]]]:
    """`plots/<kind>/<model>.csv` as {metric: [(epoch, value), ...]}, skipping empty cells."""
    curves: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            for key, value in row.items():
                if key != "epoch" and value not in ("", None):
                    curves.setdefault(key, []).append((int(row["epoch"]), float(value)))
    return curves


def training_seconds(curves: dict[str, list[tuple[int, float]]]) -> float:
    """Wall time of a training, every epoch's (those before a resume too), from its per-epoch record."""
    return round(sum(seconds for _, seconds in curves.get("time/epoch_s", [])), 1)
