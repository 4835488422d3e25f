"""`pawprint precision`: does bf16 inference hold for the models this workspace trained?

`train.precision: auto` predicts in bf16 on CPUs with native bf16 (and on GPUs), for evaluation and for the
teachers' soft labels, because it is faster there (docs/speed.md). This command measures what that costs on
the test split, model by model, with the same weights: accuracy at fp32 and at bf16, how many predictions
change, and the largest change of a class probability. It forces bf16, so it also runs on a CPU without
native bf16, only slowly (emulated).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pawprint import config, inference, methods, models
from pawprint.data import cache
from pawprint.errors import PawprintError
from pawprint.export import reference_probabilities
from pawprint.paths import SPLITS_DIR
from pawprint.reports import table


def compare(model, images: np.ndarray, labels: np.ndarray, image_size: int) -> dict[str, float]:
    exact = reference_probabilities(model, images, image_size)  # fp32, as export checks its files against
    fast = inference.logits(model, images, image_size, precision="bf16").softmax(1).numpy()
    return {
        "accuracy_fp32": float((exact.argmax(1) == labels).mean()),
        "accuracy_bf16": float((fast.argmax(1) == labels).mean()),
        "changed": int((exact.argmax(1) != fast.argmax(1)).sum()),
        "max_probability_gap": float(np.abs(exact - fast).max()),
    }


def run(params_path: Path = Path("params.yaml")) -> str:
    """Every model `evaluate` reports, on the test split: a Markdown table."""
    params = config.load(params_path)
    entries = [e for e in methods.compared(params) if e.path.exists()]
    if not entries:
        raise PawprintError("no trained model under models/: run `dvc repro` (or `dvc exp apply` one) first")
    test = cache.load(SPLITS_DIR, "test")
    images = np.array(test.images)  # a writable copy of the read-only memory map, once for every model
    results = {}
    for entry in entries:
        model, meta = models.load(entry.path)
        results[entry.name] = compare(model, images, test.labels, meta["image_size"])
    rows = [
        [name, f"{r['accuracy_fp32']:.2%}", f"{r['accuracy_bf16']:.2%}",
         f"{r['accuracy_bf16'] - r['accuracy_fp32']:+.2%}", f"{r['changed']} of {len(test.labels)}",
         f"{r['max_probability_gap']:.1e}"]
        for name, r in results.items()
    ]  # fmt: skip
    header = ["model", "test accuracy fp32", "bf16", "difference", "predictions changed", "largest probability gap"]
    return "\n".join(table(header, rows)) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pawprint precision", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/precision.md", help="the table (default: reports/precision.md)")
    args = parser.parse_args(argv)
    text = run()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text + f"\nwrote {args.out}")
