"""DVC stage `evaluate`: every model on the test split, the comparison table and confusion matrices."""

import json
from pathlib import Path

from pawprint import inference, metrics, models, reports
from pawprint.config import Params
from pawprint.data import cache
from pawprint.paths import atomic_path
from pawprint.stage import METRICS_DIR, MODELS_DIR, SPLITS_DIR, main, split_files, write_json
from pawprint.tracking import stage_run

# stage name -> method; the order of the table: the yardstick first, the two transfer routes, the teacher.
MODELS = {"train_baseline": "baseline", "finetune_simclr": "simclr", "distill": "distill", "train_teacher": "teacher"}
POOL_METHODS = {"simclr", "distill"}
REPORTS = Path("reports")


@main
def run(params: Params) -> None:
    test = cache.load(SPLITS_DIR, "test")
    rows, summary = [], {}
    with stage_run("evaluate", {"unlabeled_size": params.unlabeled_size}, split_files("test")) as mlrun:
        for name, method in MODELS.items():
            model, meta = models.load(MODELS_DIR / f"{name}.pt")
            pred = inference.logits(model, test.images, meta["image_size"]).argmax(1).numpy()
            result = metrics.classification(test.labels, pred, test.classes)
            trained = json.loads((METRICS_DIR / f"{name}.json").read_text())
            rows.append(
                {
                    "method": method,
                    "model": name,
                    "test": result,
                    "unlabeled_size": params.unlabeled_size if method in POOL_METHODS else "-",
                    **{k: trained[k] for k in ("best_epoch", "epochs", "wall_time_s")},
                }
            )
            summary[name] = {
                k: round(result[k], 4) for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")
            }
            pairs = [{"actual": test.classes[a], "predicted": test.classes[p]} for a, p in zip(test.labels, pred)]
            write_json(REPORTS / "predictions" / f"{name}.json", {"predictions": pairs})
            png = REPORTS / "confusion" / f"{name}.png"
            reports.confusion_png(result["confusion_matrix"], test.classes, f"{method}: {name}", png)
            mlrun.log_metrics({f"test/{name}/{k}": v for k, v in summary[name].items()})
            mlrun.log_artifact(png, "confusion")
        write_json(METRICS_DIR / "evaluate.json", summary)
        write_json(REPORTS / "test_metrics.json", {r["model"]: r["test"] for r in rows})
        title = f"pawprint: {params.data.source}, {len(test)} test images, unlabeled pool {params.unlabeled_size}"
        with atomic_path(REPORTS / "summary.md") as tmp:
            tmp.write_text(reports.summary_markdown(rows, test.classes, title))
        mlrun.log_artifact(REPORTS / "summary.md")
    print((REPORTS / "summary.md").read_text())


if __name__ == "__main__":
    run()
