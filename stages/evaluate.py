"""DVC stage `evaluate`: every student and teacher on the test split; results for `report` and MLflow."""

import json
from pathlib import Path

from pawprint import inference, methods, metrics, models
from pawprint.config import Params
from pawprint.data import cache
from pawprint.stage import METRICS_DIR, SPLITS_DIR, main, metrics_path, select, split_files, write_json
from pawprint.tracking import stage_run

REPORTS = Path("reports")


@main
def run(params: Params) -> None:
    test = cache.load(SPLITS_DIR, "test")
    results, summary = {}, {}
    tracked = select(params, "seed", "unlabeled_size", "data.source", "student.arch")
    with stage_run("evaluate", tracked, split_files("test")) as mlrun:
        entries = methods.compared(params)
        mlrun.set_tags({f"method/{e.name}": e.method for e in entries})
        mlrun.set_tags({f"uses_pool/{e.name}": str(e.uses_pool).lower() for e in entries})
        for entry in entries:
            model, meta = models.load(entry.path)
            pred = inference.logits(model, test.images, meta["image_size"]).argmax(1).numpy()
            result = metrics.classification(test.labels, pred, test.classes)
            trained = json.loads(metrics_path(entry.path).read_text())
            results[entry.name] = {
                "kind": entry.kind,
                "file": str(entry.path),
                "method": entry.method,
                "unlabeled_size": params.unlabeled_size if entry.uses_pool else None,
                "training": {k: trained[k] for k in ("best_epoch", "epochs", "wall_time_s")},
                "test": result,
            }
            summary[entry.name] = {
                k: round(result[k], 4) for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")
            }
            pairs = [{"actual": test.classes[a], "predicted": test.classes[p]} for a, p in zip(test.labels, pred)]
            write_json(REPORTS / "predictions" / f"{entry.name}.json", {"predictions": pairs})
            mlrun.log_metrics(metrics.flat(f"test/{entry.name}", result) | {
                f"train/{entry.name}/{k}": v for k, v in results[entry.name]["training"].items()
            })  # fmt: skip
        write_json(METRICS_DIR / "evaluate.json", summary)
        report = {"classes": test.classes, "order": list(results), "models": results}
        write_json(REPORTS / "test_metrics.json", report)
        mlrun.log_artifact(REPORTS / "test_metrics.json")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    run()
