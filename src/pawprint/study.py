"""The study across pipeline runs, from MLflow: every finished `evaluate` run (each `dvc exp run`, queued
experiment or seed logs one) becomes rows of one table per method and unlabeled pool size, with mean and
standard deviation over runs, the plot of accuracy against the pool size, and the verdict: each model against
the baseline over the seeds of each pool size, on the same test images (`verdict.py`).

Models that never see the pool (baseline, supervised teachers) are shared by every pool size of a seed, so
they count once per seed and data set; the plot draws them as horizontal lines.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pawprint import reports
from pawprint.paths import atomic_path


@dataclass
class Cell:
    method: str
    model: str
    source: str
    unlabeled_size: int | None
    metrics: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seeds: set = field(default_factory=set)


def collect(runs) -> list[Cell]:
    """`runs`: MLflow runs of the evaluate stage (mlflow.entities.Run)."""
    cells: dict[tuple, Cell] = {}
    for run in runs:
        p, tags, values = run.data.params, run.data.tags, run.data.metrics
        seed, source = p.get("seed", "?"), p.get("data.source", "?")
        models = sorted({k.split("/")[1] for k in values if k.startswith("test/") and k.endswith("/accuracy")})
        for model in models:
            pool = int(p["unlabeled_size"]) if tags.get(f"uses_pool/{model}") == "true" else None
            key = (source, model, pool)
            cell = cells.setdefault(key, Cell(tags.get(f"method/{model}", model), model, source, pool))
            if pool is None and seed in cell.seeds:
                continue  # the same model file, evaluated again for another pool size
            cell.seeds.add(seed)
            prefix = f"test/{model}/"
            for k, v in values.items():
                if k.startswith(prefix):
                    cell.metrics[k[len(prefix) :]].append(v)
            for k in ("best_epoch", "wall_time_s"):
                if f"train/{model}/{k}" in values:
                    cell.metrics[k].append(values[f"train/{model}/{k}"])
    return sorted(cells.values(), key=lambda c: (c.source, c.unlabeled_size or 0, c.model))


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def markdown(cells: list[Cell]) -> str:
    classes = sorted({k.split("/")[1] for c in cells for k in c.metrics if k.startswith("class/")})
    rows, per_class = [], []
    for c in cells:
        acc, f1 = _mean_std(c.metrics["accuracy"]), _mean_std(c.metrics["macro_f1"])
        best = statistics.mean(c.metrics["best_epoch"]) if c.metrics["best_epoch"] else float("nan")
        wall = statistics.mean(c.metrics["wall_time_s"]) if c.metrics["wall_time_s"] else float("nan")
        pool = c.unlabeled_size if c.unlabeled_size is not None else "-"
        rows.append([
            c.source, c.method, c.model, pool, len(c.metrics["accuracy"]),
            f"{100 * acc[0]:.1f} ± {100 * acc[1]:.1f}", f"{100 * f1[0]:.1f} ± {100 * f1[1]:.1f}",
            f"{best:.1f}", f"{wall:.0f}",
        ])  # fmt: skip
        means = {cls: {k: statistics.mean(v) for k in reports.PER_CLASS if (v := c.metrics.get(f"class/{cls}/{k}"))}
                 for cls in classes}  # fmt: skip
        per_class.append([c.model, pool, *(reports.per_class_cell(means[cls]) for cls in classes)])
    header = ["data", "method", "model", "unlabeled", "runs", "accuracy %", "macro F1 %", "epoch kept"]
    lines = ["# pawprint study: test results over runs (mean ± standard deviation)", ""]
    lines += reports.table([*header, "wall time s"], rows)
    lines += ["", "## Per class, mean over runs (precision / recall / F1 / accuracy, %)", ""]
    lines += reports.table(["model", "unlabeled", *classes], per_class)
    return "\n".join(lines) + "\n"


def accuracy_vs_unlabeled_png(cells: list[Cell], path: Path) -> None:
    plt = reports._pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sizes = sorted({c.unlabeled_size for c in cells if c.unlabeled_size is not None})
    for model in sorted({c.model for c in cells if c.unlabeled_size is not None}):
        points = sorted((c.unlabeled_size, *_mean_std(c.metrics["accuracy"])) for c in cells if c.model == model)
        xs, means, stds = zip(*points)
        ax.errorbar(xs, [100 * m for m in means], [100 * s for s in stds], marker="o", capsize=3, label=model)
    for c in cells:
        if c.unlabeled_size is None and sizes:
            ax.axhline(100 * _mean_std(c.metrics["accuracy"])[0], ls="--", lw=1, color="gray")
            ax.text(sizes[-1], 100 * _mean_std(c.metrics["accuracy"])[0], c.model, fontsize=7, va="bottom")
    ax.set_xlabel("unlabeled pool size")
    ax.set_ylabel("test accuracy %")
    ax.legend(fontsize=7)
    reports._save(fig, path)


def predictions(client, run) -> dict[str, tuple[list[str], list[str]]] | None:
    """model -> (actual, predicted) class names of one evaluate run, from its `predictions` artifacts."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = Path(client.download_artifacts(run.info.run_id, "predictions", tmp))
        except Exception:  # a run from before predictions were logged, or a store without its artifacts
            return None
        out = {}
        for path in sorted(folder.glob("*.json")):
            rows = json.loads(path.read_text())["predictions"]
            out[path.stem] = ([r["actual"] for r in rows], [r["predicted"] for r in rows])
        return out


def paired_verdict(model: str, seeds: list[tuple], baseline: str = "baseline"):
    """`verdict.compare` of `model` against `baseline` from each seed's class names on its test images (the
    truth, the baseline's predictions, the model's): the names become one index shared by every seed."""
    from pawprint import verdict

    classes = sorted({c for names in seeds for seq in names for c in seq})
    index = {c: i for i, c in enumerate(classes)}
    paired = [
        verdict.Seed(*(np.array([index[c] for c in seq]) for seq in (truth, model_pred, base_pred)))
        for truth, base_pred, model_pred in seeds
    ]
    return verdict.compare(model, paired, len(classes), baseline=baseline)


def verdicts(client, runs, baseline: str = "baseline") -> list[str]:
    """One sentence per model and pool size: that model against the baseline over the seeds, each seed's
    newest run, only runs on the same test images (the same data fingerprint) together."""
    groups: dict[tuple, dict[str, Any]] = defaultdict(dict)
    for run in sorted(runs, key=lambda r: r.info.start_time):
        p = run.data.params
        key = (p.get("data.source", "?"), int(p.get("unlabeled_size", 0)), run.data.tags.get("data_fingerprint"))
        groups[key][p.get("seed", "?")] = run
    lines = []
    for (source, pool, _), by_seed in sorted(groups.items(), key=lambda kv: kv[0][:2]):
        seeds = [pr for pr in (predictions(client, r) for r in by_seed.values()) if pr and baseline in pr]
        if not seeds:
            continue
        for model in [m for m in seeds[0] if m != baseline and all(m in pr for pr in seeds)]:
            sentence = paired_verdict(model, [(*pr[baseline], pr[model][1]) for pr in seeds]).sentence()
            lines.append(f"{source}, pool {pool}: {sentence}")
    return lines


def write(cells: list[Cell], out: Path, verdict_lines: list[str] = ()) -> list[Path]:
    if not cells:
        return []
    written = [out / "summary.md", out / "accuracy_vs_unlabeled.png"]
    text = markdown(cells)
    if verdict_lines:
        text += "\n## Against the baseline, over seeds (McNemar's exact test, paired on the same test images)\n\n"
        text += "".join(f"- {line}\n" for line in verdict_lines)
    with atomic_path(written[0]) as tmp:
        tmp.write_text(text)
    accuracy_vs_unlabeled_png(cells, written[1])
    return written


def evaluate_runs(source: str | None = None) -> tuple[Any, list]:
    """The client and every finished evaluate run of the project's store (or `MLFLOW_TRACKING_URI`), one data
    set or all; no client when nothing ran here yet (an empty store is not created just to be read)."""
    from pawprint import tracking

    uri = tracking.tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None, []
    client, experiment_id = tracking.ensure_experiment()
    query = "tags.stage = 'evaluate' and attributes.status = 'FINISHED'"
    if source:
        query += f" and params.`data.source` = '{source}'"
    return client, client.search_runs([experiment_id], filter_string=query, max_results=50000)


def from_mlflow(source: str | None = None) -> list[Cell]:
    return collect(evaluate_runs(source)[1])
