"""Human-readable results: the comparison table of the study and confusion-matrix pictures."""

from __future__ import annotations

from pathlib import Path

from pawprint.paths import atomic_path


def confusion_png(cm: list[list[int]], classes: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(3.5, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45 if len(classes) > 4 else 0)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = max(max(row) for row in cm) or 1
    for i, row in enumerate(cm):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def summary_markdown(rows: list[dict], classes: list[str], title: str) -> str:
    """`rows`: one per model with method, model, unlabeled_size, test metrics and training metadata."""
    lines = [
        f"# {title}",
        "",
        "| method | model | unlabeled | accuracy % | macro precision % | macro recall % | macro F1 % "
        "| epochs to best | epochs run | wall time s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r["test"]
        lines.append(
            f"| {r['method']} | {r['model']} | {r['unlabeled_size']} | {_pct(m['accuracy'])} "
            f"| {_pct(m['macro_precision'])} | {_pct(m['macro_recall'])} | {_pct(m['macro_f1'])} "
            f"| {r['best_epoch']} | {r['epochs']} | {r['wall_time_s']:.0f} |"
        )
    lines += ["", "## Per class (precision / recall / F1 / accuracy, %)", ""]
    lines.append("| model | " + " | ".join(classes) + " |")
    lines.append("|---|" + "---|" * len(classes))
    for r in rows:
        cells = [
            "/".join(_pct(pc[k]) for k in ("precision", "recall", "f1", "accuracy"))
            for pc in (r["test"]["per_class"][c] for c in classes)
        ]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
