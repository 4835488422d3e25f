"""`pawprint holdout A B ...`: the models of the seed experiments of each label (`pawprint seeds --label A`)
scored on the images that no split holds: what is left of the data after test, val, labeled and the pool.

Choosing between two recipes by test accuracy tunes on the test set, and val has already chosen each run's
epoch. The leftover images did neither, so they can decide a recipe while test stays a measurement. They exist
when the data is larger than the splits (the embedded digits: 1,797 images, 1,600 in the default's splits).
Each experiment's checkpoints come from the DVC cache through its `dvc.lock`; its splits must be the
workspace's (the split does not depend on the seed). The table goes to stdout and `reports/holdout-A-B.md`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from pawprint.data.build import decode_all, scan
from pawprint.data.splits import SPLITS
from pawprint.errors import PawprintError
from pawprint.paths import SPLITS_DIR
from pawprint.tools.seeds import experiment_revs, newest_per_seed

RAW = Path("data/raw")
MODEL_DIRS = ("models/students/", "models/teachers/")


def leftover(raw: Path, splits: Path) -> list[Path]:
    """The files of `raw` that no split's CSV names."""
    used = set()
    for name in SPLITS:
        with open(splits / f"{name}.csv", newline="") as fh:
            used |= {row["path"] for row in csv.DictReader(fh)}
    files, _, _ = scan(raw)
    return [f for f in files if f.relative_to(raw).as_posix() not in used]


def checkpoints(rev: str, splits: Path, cache: Callable[[str], str]) -> dict[str, Path]:
    """Model name -> its checkpoint in the DVC cache (`cache`: a file's md5 -> its path there), for the
    experiment at `rev`; refuses one whose splits differ from those in `splits`."""
    lock = yaml.safe_load(subprocess.run(["git", "show", f"{rev}:dvc.lock"], capture_output=True, text=True,
                                         check=True).stdout)  # fmt: skip
    found = {}
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            path, md5 = out["path"], out.get("md5", "")
            if path.startswith(f"{splits.as_posix()}/") and path.endswith(".csv"):
                here = hashlib.md5((splits / Path(path).name).read_bytes()).hexdigest()
                if here != md5:
                    raise PawprintError(
                        f"experiment {rev[:7]}: its {path} is not the workspace's; run `dvc repro split` with "
                        "the params that experiment used, or compare experiments of the workspace's split"
                    )
            elif path.startswith(MODEL_DIRS) and path.endswith(".pt"):
                found[Path(path).stem] = Path(cache(md5))
    missing = [str(p) for p in found.values() if not p.exists()]
    if missing:
        raise PawprintError(f"experiment {rev[:7]}: {missing[0]} is not in the DVC cache; `dvc pull` it first")
    return found


def accuracy(checkpoint: Path, files: list[Path], decoded: dict[int, tuple[np.ndarray, list[str]]]) -> float:
    """Top-1 accuracy on `files` (each file's class is its folder), preprocessed as `pawprint predict` does;
    the files are decoded once per cache size, in `decoded`, and broken ones left out."""
    from pawprint import inference, predict

    predictor = predict.load(str(checkpoint))
    if predictor.cache_size not in decoded:
        arrays = decode_all(files, predictor.cache_size)
        good = [i for i, a in enumerate(arrays) if not isinstance(a, str)]
        decoded[predictor.cache_size] = (np.stack([arrays[i] for i in good]), [files[i].parent.name for i in good])
    images, truth = decoded[predictor.cache_size]
    # fp32 whatever the CPU: bf16 rounding flips a borderline image now and then, and a recipe is not that
    guesses = inference.logits(predictor.model, images, predictor.image_size, precision="32").argmax(1).tolist()
    return sum(predictor.classes[g] == t for g, t in zip(guesses, truth)) / len(truth)


def table(per_label: dict[str, list[dict[str, float]]], size: int) -> str:
    labels = list(per_label)
    models = sorted(set.intersection(*(set(run) for runs in per_label.values() for run in runs)))
    lines = [
        f"Accuracy on the {size} images no split holds (each seed's value, then the mean):",
        "",
        "| model | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for model in models:
        cells = []
        for label in labels:
            accs = [run[model] for run in per_label[label]]
            cells.append(" / ".join(f"{a:.3f}" for a in accs) + f" (**{statistics.mean(accs):.3f}**)")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pawprint holdout", description=__doc__.splitlines()[0])
    parser.add_argument("labels", nargs="+", metavar="LABEL", help="labels of earlier `pawprint seeds` runs")
    args = parser.parse_args(argv)
    files = leftover(RAW, SPLITS_DIR)
    if not files:
        raise SystemExit("every image is in a split: no images are left to score on (lower unlabeled_size)")
    from dvc.repo import Repo

    cache = Repo(".").cache.local.oid_to_path  # wherever `dvc cache dir` put it
    revs, decoded = experiment_revs(), {}
    per_label = {
        label: [
            {name: accuracy(path, files, decoded) for name, path in checkpoints(revs[exp], SPLITS_DIR, cache).items()}
            for exp in newest_per_seed(label, revs)
        ]
        for label in args.labels
    }
    text = table(per_label, len(files))
    Path("reports").mkdir(exist_ok=True)
    Path(f"reports/holdout-{'-'.join(args.labels)}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
