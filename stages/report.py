"""DVC stage `report`: the comparison table of this run and its figures, from `evaluate`'s results, `export`'s
sizes and speeds and the per-epoch curves, as `reports/summary.md` and the page `reports/index.html`.

The accuracy-vs-unlabeled-size figure reads every evaluate run of this data source in MLflow (the study that
`pawprint report` prints): one pipeline run has a single pool size, the figure is about several. That input
is not a DVC dependency, so the figure grows as experiments run and is redrawn when the stage reruns.
"""

import json
from pathlib import Path

from pawprint import metrics, page, reports, study
from pawprint.config import SSL_TEACHER, Params
from pawprint.data import cache
from pawprint.paths import PRETRAINED_DIR, REPORTS_DIR, SPLITS_DIR, atomic_path, plots_path
from pawprint.stage import main
from pawprint.tracking import stage_run

FIGURES = REPORTS_DIR / "figures"
MISTAKES_SHOWN = 24  # per model


@main
def run(params: Params) -> None:
    results = json.loads((REPORTS_DIR / "test_metrics.json").read_text())
    models = {name: results["models"][name] for name in results["order"]}  # the table's order
    classes = results["classes"]
    exported = json.loads((REPORTS_DIR / "export.json").read_text())["models"]
    title = f"pawprint: {params.study or params.data.source}, unlabeled pool {params.unlabeled_size}"
    with stage_run("report", {"unlabeled_size": params.unlabeled_size}) as mlrun:
        reports.accuracy_png(models, FIGURES / "accuracy.png")
        reports.per_class_png(models, classes, FIGURES / "per_class.png")
        for name, r in models.items():
            cm = r["test"]["confusion_matrix"]
            reports.confusion_png(cm, classes, f"{name}: {r['method']}", FIGURES / "confusion" / f"{name}.png")
        trained = [PRETRAINED_DIR / "student.pt", PRETRAINED_DIR / f"{SSL_TEACHER}.pt"]
        trained += [Path(r["file"]) for r in models.values()]
        curves = {f"{p.parent.name}/{p.stem}": metrics.read_curves(plots_path(p)) for p in trained}
        reports.curves_png(curves, FIGURES / "curves.png")
        pretraining = {name: c for name, c in curves.items() if "val/knn_accuracy" in c}
        if pretraining:
            reports.knn_png(pretraining, FIGURES / "knn.png")
        cells = study.from_mlflow(params.data.source)
        study.accuracy_vs_unlabeled_png(cells, FIGURES / "accuracy_vs_unlabeled.png")
        predictions = {
            name: json.loads((REPORTS_DIR / "predictions" / f"{name}.json").read_text())["predictions"]
            for name in models
        }
        verdicts = reports.against_baseline(models, predictions, classes)
        published = reports.published_accuracy(params.study)
        with atomic_path(REPORTS_DIR / "summary.md") as tmp:
            tmp.write_text(reports.summary_markdown(models, classes, exported, title, verdicts, published))
        test = cache.load(SPLITS_DIR, "test").images
        galleries = {name: page.mistakes(predictions[name], test, MISTAKES_SHOWN) for name in models}
        figures = [
            ("Test accuracy", FIGURES / "accuracy.png"),
            (
                "Accuracy vs unlabeled pool size (every run of this data source in MLflow)",
                FIGURES / "accuracy_vs_unlabeled.png",
            ),
            ("Per-class accuracy", FIGURES / "per_class.png"),
            ("Training curves", FIGURES / "curves.png"),
        ]
        if pretraining:
            figures.append(("SimCLR pretraining: kNN accuracy of the backbone on val", FIGURES / "knn.png"))
        figures += [(f"Confusion matrix: {name}", FIGURES / "confusion" / f"{name}.png") for name in models]
        tables = [("Test results", reports.comparison(models, published)),
                  ("Against the baseline", verdicts),
                  ("Per class (precision / recall / F1 / accuracy, %)", reports.per_class(models, classes)),
                  ("Deployed size and CPU speed", reports.deployment(exported, models))]  # fmt: skip
        with atomic_path(REPORTS_DIR / "index.html") as tmp:
            tmp.write_text(page.render(title, tables, figures, galleries))
        mlrun.log_artifact(REPORTS_DIR / "summary.md")
        mlrun.log_artifact(REPORTS_DIR / "index.html")
        for path in FIGURES.rglob("*.png"):
            mlrun.log_artifact(path, str(path.parent.relative_to(REPORTS_DIR)))
    print((REPORTS_DIR / "summary.md").read_text())


if __name__ == "__main__":
    run()
