"""DVC stage `report`: the comparison table of this run and its figures, from `evaluate`'s results and the
per-epoch curves. (`pawprint report` builds the study across many runs from MLflow.)"""

import json
from pathlib import Path

from pawprint import reports
from pawprint.config import SSL_TEACHER, Params
from pawprint.paths import atomic_path
from pawprint.stage import PRETRAINED_DIR, main, plots_path
from pawprint.tracking import stage_run

REPORTS = Path("reports")
FIGURES = REPORTS / "figures"


@main
def run(params: Params) -> None:
    results = json.loads((REPORTS / "test_metrics.json").read_text())
    models = {name: results["models"][name] for name in results["order"]}  # the table's order
    classes = results["classes"]
    title = f"pawprint: {params.data.source}, unlabeled pool {params.unlabeled_size}"
    with stage_run("report", {"unlabeled_size": params.unlabeled_size}) as mlrun:
        reports.accuracy_png(models, FIGURES / "accuracy.png")
        reports.per_class_png(models, classes, FIGURES / "per_class.png")
        for name, r in models.items():
            cm = r["test"]["confusion_matrix"]
            reports.confusion_png(cm, classes, f"{name}: {r['method']}", FIGURES / "confusion" / f"{name}.png")
        trained = [PRETRAINED_DIR / "student.pt", PRETRAINED_DIR / f"{SSL_TEACHER}.pt"]
        trained += [Path(r["file"]) for r in models.values()]
        curves = {f"{p.parent.name}/{p.stem}": reports.read_curves(plots_path(p)) for p in trained}
        reports.curves_png(curves, FIGURES / "curves.png")
        with atomic_path(REPORTS / "summary.md") as tmp:
            tmp.write_text(reports.summary_markdown(models, classes, title))
        mlrun.log_artifact(REPORTS / "summary.md")
        for path in FIGURES.rglob("*.png"):
            mlrun.log_artifact(path, str(path.parent.relative_to(REPORTS)))
    print((REPORTS / "summary.md").read_text())


if __name__ == "__main__":
    run()
