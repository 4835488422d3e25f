"""DVC stage `evaluate`: every student and teacher on the test split; results for `report` and MLflow."""

import json
import sys

from pawprint import inference, methods, metrics, models, verdict
from pawprint.config import Params
from pawprint.data import cache
from pawprint.paths import METRICS_DIR, REPORTS_DIR, SPLITS_DIR, metrics_path, plots_path, split_files
from pawprint.progress import track
from pawprint.stage import main, select, write_json
from pawprint.tracking import stage_run


@main
def run(params: Params) -> None:
    test = cache.load(SPLITS_DIR, "test")
    results, summary = {}, {}
    tracked = select(params, "seed", "unlabeled_size", "data.source", "student.arch", "train.precision")
    with stage_run("evaluate", tracked, split_files("test")) as mlrun:
        entries = methods.compared(params)
        mlrun.set_tags({f"method/{e.name}": e.method for e in entries})
        mlrun.set_tags({f"uses_pool/{e.name}": str(e.uses_pool).lower() for e in entries})
        for entry in track(entries, len(entries), f"evaluate: {len(test)} test images", unit="models"):
            model, meta = models.load(entry.path)
            logits = inference.logits(model, test.images, meta["image_size"], precision=params.train.precision)
            pred = logits.argmax(1).numpy()
            result = metrics.classification(test.labels, pred, test.classes)
            collapsed = verdict.collapse(test.labels, pred, len(test.classes))
            if collapsed:
                print(f"warning: {entry.name} ({entry.method}) {collapsed}: a collapsed model", file=sys.stderr)
                mlrun.set_tags({f"collapsed/{entry.name}": collapsed})
            trained = json.loads(metrics_path(entry.path).read_text())
            results[entry.name] = {
                "kind": entry.kind,
                "file": str(entry.path),
                "method": entry.method,
                "unlabeled_size": params.unlabeled_size if entry.uses_pool else None,
                "training": {
                    "best_epoch": trained["best_epoch"],
                    "epochs": trained["epochs"],
                    "wall_time_s": metrics.training_seconds(metrics.read_curves(plots_path(entry.path))),
                },
                "test": result,
                "collapsed": collapsed,
            }
            summary[entry.name] = {
                k: round(result[k], 4) for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")
            }
            pairs = [{"actual": test.classes[a], "predicted": test.classes[p]} for a, p in zip(test.labels, pred)]
            write_json(REPORTS_DIR / "predictions" / f"{entry.name}.json", {"predictions": pairs})
            mlrun.log_metrics(metrics.flat(f"test/{entry.name}", result) | {
                f"train/{entry.name}/{k}": v for k, v in results[entry.name]["training"].items()
            })  # fmt: skip
        for path in sorted((REPORTS_DIR / "predictions").glob("*.json")):  # for the verdict over seeds
            mlrun.log_artifact(path, "predictions")
        write_json(METRICS_DIR / "evaluate.json", summary)
        report = {"classes": test.classes, "order": list(results), "models": results}
        write_json(REPORTS_DIR / "test_metrics.json", report)
        mlrun.log_artifact(REPORTS_DIR / "test_metrics.json")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    run()
