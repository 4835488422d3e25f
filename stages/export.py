"""DVC stage `export`: the best student and the best teacher to ONNX and TorchScript, each checked against
PyTorch on the test split and measured (parameters, file size, CPU latency and throughput); the best student
also becomes an MLflow model. "Best" is by val accuracy, never test, so the test split stays unseen."""

import json
from pathlib import Path

import torch

from pawprint import export, methods, models
from pawprint.data import cache
from pawprint.errors import PawprintError
from pawprint.paths import MODELS_DIR, SPLITS_DIR, metrics_path, split_files
from pawprint.stage import main, select, write_json
from pawprint.tracking import log_pytorch_model, stage_run

EXPORT_DIR = MODELS_DIR / "export"
REPORT = Path("reports/export.json")


def best(entries: list[methods.Entry], kind: str) -> methods.Entry:
    scored = [e for e in entries if e.kind == kind]
    return max(scored, key=lambda e: json.loads(metrics_path(e.path).read_text())["val/accuracy"])


def size_mb(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 2)


@main
def run(params) -> None:
    test = cache.load(SPLITS_DIR, "test")
    entries = methods.compared(params)
    results = {}
    with stage_run("export", select(params, "seed", "unlabeled_size", "data.source"), split_files("test")) as mlrun:
        for i, kind in enumerate(("student", "teacher"), 1):
            entry = best(entries, kind)
            print(
                f"export {i} of 2: {entry.name} to ONNX and TorchScript, checked on the test split, timed", flush=True
            )
            model, meta = models.load(entry.path)
            example = export.example_input(test.images[:2], meta["image_size"])
            files = {"onnx": EXPORT_DIR / f"{entry.name}.onnx", "torchscript": EXPORT_DIR / f"{entry.name}.ts.pt"}
            export.to_onnx(model, example, files["onnx"])
            export.to_torchscript(model, example, files["torchscript"])
            runners = {
                "pytorch": export.torch_runner(model),
                "onnx": export.onnx_runner(files["onnx"]),
                "torchscript": export.torchscript_runner(files["torchscript"]),
            }
            reference = export.reference_probabilities(model, test.images, meta["image_size"])
            gaps = {
                fmt: export.max_probability_gap(reference, runners[fmt], test.images, meta["image_size"])
                for fmt in files
            }
            for fmt, gap in gaps.items():
                if gap > export.PARITY_TOLERANCE:
                    raise PawprintError(
                        f"{files[fmt]}: probabilities differ from PyTorch by {gap:.2e} on the test split "
                        f"(tolerance {export.PARITY_TOLERANCE}); report it with your torch and onnx versions"
                    )
            results[entry.name] = {
                "kind": kind,
                "method": entry.method,
                "parameters": sum(p.numel() for p in model.parameters()),
                "size_mb": {"checkpoint": size_mb(entry.path), **{fmt: size_mb(p) for fmt, p in files.items()}},
                "max_probability_gap": gaps,
                "speed": {fmt: export.speed(run, example.numpy()) for fmt, run in runners.items()},
            }
            mlrun.log_metrics({f"export/{entry.name}/{fmt}/{k}": v for fmt, s in results[entry.name]["speed"].items()
                               for k, v in s.items()})  # fmt: skip
            mlrun.set_tags({f"best_{kind}": entry.name})
            if kind == "student":
                results[entry.name]["mlflow_model_uri"] = log_pytorch_model(
                    mlrun, model, example, {k: meta[k] for k in ("arch", "classes", "image_size", "cache_size")}
                )
        write_json(REPORT, {"torch": torch.__version__, "models": results})
        mlrun.log_artifact(REPORT)
    print(REPORT.read_text())


if __name__ == "__main__":
    run()
