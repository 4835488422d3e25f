"""What people read: the comparison table of one run, its figures, and the study across many runs.

Figures are PNG files drawn with matplotlib's Agg backend (no display needed); tables are Markdown.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pawprint.paths import STUDIES_DIR, atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    _pyplot().close(fig)


def confusion_png(cm: list[list[int]], classes: list[str], title: str, path: Path) -> None:
    plt = _pyplot()
    size = max(3.5, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45 if len(classes) > 4 else 0)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    peak = max(max(row) for row in cm) or 1
    for i, row in enumerate(cm):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    _save(fig, path)


def accuracy_png(models: dict[str, dict], path: Path) -> None:
    """Test accuracy per model, students and teachers told apart by colour."""
    plt = _pyplot()
    names = list(models)
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(names) + 2), 3.5))
    colours = ["tab:blue" if models[n]["kind"] == "student" else "tab:gray" for n in names]
    accs = [100 * models[n]["test"]["accuracy"] for n in names]
    ax.bar(names, accs, color=colours)
    for i, a in enumerate(accs):
        ax.text(i, a + 1, f"{a:.1f}", ha="center", fontsize=8)
    ax.set_ylabel("test accuracy %")
    ax.set_ylim(0, 105)
    ax.set_title("students (blue) and teachers (grey)", fontsize=9)
    ax.tick_params(axis="x", rotation=30)
    _save(fig, path)


def per_class_png(models: dict[str, dict], classes: list[str], path: Path) -> None:
    """Per-class accuracy (the share of each class's test images classified right), grouped by class."""
    plt = _pyplot()
    names = list(models)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(min(14, max(6, 0.25 * len(classes) * len(names) + 3)), 3.8))
    for i, name in enumerate(names):
        accs = [100 * models[name]["test"]["per_class"][c]["accuracy"] for c in classes]
        ax.bar([j + i * width for j in range(len(classes))], accs, width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(classes))], classes)
    ax.set_ylabel("per-class accuracy %")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, ncol=min(4, len(names)))
    _save(fig, path)


def curves_png(curves: dict[str, dict[str, list[tuple[int, float]]]], path: Path) -> None:
    """Train and val loss per epoch, one panel per trained model; log scale, as early epochs of a network
    from scratch can sit orders of magnitude above the rest."""
    plt = _pyplot()
    cols = min(4, len(curves))
    rows = math.ceil(len(curves) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, (name, series) in zip(axes.flat, curves.items()):
        for key in ("train/loss", "val/loss"):
            if key in series:
                ax.plot(*zip(*series[key]), label=key.split("/")[0])
        ax.set_title(name, fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(curves) :]:
        ax.axis("off")
    _save(fig, path)


def knn_png(curves: dict[str, dict[str, list[tuple[int, float]]]], path: Path) -> None:
    """SimCLR pretraining: the backbone's kNN accuracy on val per epoch, beside chance, one line per network."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, series in curves.items():
        ax.plot(*zip(*[(e, 100 * v) for e, v in series["val/knn_accuracy"]]), marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("kNN accuracy on val %")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    _save(fig, path)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


PER_CLASS = ("precision", "recall", "f1", "accuracy")


def per_class_cell(values: dict[str, float | None]) -> str:
    """One class's precision / recall / F1 / accuracy in percent, `-` where a value is missing."""
    return "/".join(_pct(values.get(k)) for k in PER_CLASS)


def table(header: list[str], rows: list[list]) -> list[str]:
    """Markdown table lines: the one shape of every table the reports write."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


Table = tuple[list[str], list[list]]  # header, rows: what the Markdown summary and the HTML page both render


def published_accuracy(study: str) -> dict[str, float | dict[int, float]]:
    """The study's own test accuracies (`published:` in studies/<study>.yaml): model -> accuracy, or
    model -> {unlabeled pool size: accuracy}; empty for a run of no study."""
    import yaml

    if not study:
        return {}
    return yaml.safe_load((STUDIES_DIR / f"{study}.yaml").read_text()).get("published", {})


def comparison(models: dict[str, dict], published: dict | None = None) -> Table:
    """`models`: name -> {kind, method, unlabeled_size, training, test}, as `evaluate` writes them;
    `published`: the study's numbers (`published_accuracy`), set beside ours row by row."""
    header = ["method", "model", "unlabeled", "accuracy %", "macro precision %", "macro recall %", "macro F1 %"]
    rows = []
    for name, r in models.items():
        m, t = r["test"], r["training"]
        pool = r["unlabeled_size"] if r["unlabeled_size"] is not None else "-"
        metrics = [_pct(m[k]) for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")]
        note = f"collapsed: {r['collapsed']}" if r.get("collapsed") else ""
        seed = (published or {}).get(name)
        seed = seed.get(r["unlabeled_size"]) if isinstance(seed, dict) else seed
        theirs = [_pct(seed)] if published else []
        rows.append([r["method"], name, pool, *metrics[:1], *theirs, *metrics[1:], t["best_epoch"], t["epochs"],
                     f"{t['wall_time_s']:.0f}", note])  # fmt: skip
    header = [*header[:4], *(["published %"] if published else []), *header[4:]]
    return [*header, "epoch kept", "epochs run", "wall time s", "note"], rows


def against_baseline(models: dict[str, dict], predictions: dict[str, list[dict]], classes: list[str]) -> Table:
    """Each student of this run against the baseline on the same test images (`verdict.py`), in words."""
    from pawprint import verdict

    def labels(name: str, key: str) -> np.ndarray:
        return np.array([classes.index(p[key]) for p in predictions[name]])

    y, base = labels("baseline", "actual"), labels("baseline", "predicted")
    students = [n for n, r in models.items() if r["kind"] == "student" and n != "baseline"]
    rows = [[verdict.compare(n, [verdict.Seed(y, labels(n, "predicted"), base)], len(classes)).sentence()]
            for n in students]  # fmt: skip
    return ["against the baseline (McNemar's exact test on the same test images)"], rows


def per_class(models: dict[str, dict], classes: list[str]) -> Table:
    rows = [[name, *(per_class_cell(r["test"]["per_class"][c]) for c in classes)] for name, r in models.items()]
    return ["model", *classes], rows


def deployment(exported: dict[str, dict], models: dict[str, dict]) -> Table:
    """Accuracy beside size and CPU speed, for the exported models (`export` stage): the distillation trade-off."""
    header = ["model", "method", "accuracy %", "parameters M", "ONNX MB", "ONNX ms/image, batch 1",
              "ONNX images/s, batch 64", "PyTorch ms/image, batch 1", "PyTorch images/s, batch 64"]  # fmt: skip
    rows = []
    for name, e in exported.items():
        onnx, torch_ = e["speed"]["onnx"], e["speed"]["pytorch"]
        rows.append([
            name, e["method"], _pct(models[name]["test"]["accuracy"]), f"{e['parameters'] / 1e6:.2f}",
            f"{e['size_mb']['onnx']:.1f}", f"{onnx['latency_ms_batch1']:.2f}", f"{onnx['images_per_s_batch64']:.0f}",
            f"{torch_['latency_ms_batch1']:.2f}", f"{torch_['images_per_s_batch64']:.0f}",
        ])  # fmt: skip
    return header, rows


def summary_markdown(
    models: dict[str, dict],
    classes: list[str],
    exported: dict[str, dict],
    title: str,
    verdicts: Table,
    published: dict | None = None,
) -> str:
    lines = [f"# {title}", "", *table(*comparison(models, published)), "", *table(*verdicts)]
    lines += ["", "## Per class (precision / recall / F1 / accuracy, %)", "", *table(*per_class(models, classes))]
    lines += ["", "## Deployed size and CPU speed (best student and teacher by val accuracy)", ""]
    lines += table(*deployment(exported, models))
    return "\n".join(lines) + "\n"
