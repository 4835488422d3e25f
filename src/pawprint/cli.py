"""`pawprint`: the commands around the pipeline (the pipeline itself is `dvc repro`)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from pawprint.errors import PawprintError


def _report(args: argparse.Namespace) -> None:
    from pawprint import study

    client, runs = study.evaluate_runs(args.source)
    cells = study.collect(runs)
    if not cells:
        raise PawprintError("no finished evaluate runs in the MLflow store; run `dvc repro` or `dvc exp run` first")
    lines = study.verdicts(client, runs)
    for path in study.write(cells, Path(args.out), lines):
        print(f"wrote {path}")
    print(study.markdown(cells))
    print("Against the baseline, over seeds:\n" + "\n".join(f"- {line}" for line in lines))


def _predict(args: argparse.Namespace) -> None:
    from pawprint import predict

    sys.exit(predict.run(args.model, args.paths, args.top_k, args.csv))


TOOLS = {  # command: (module under pawprint.tools, summary)
    "study": ("presets", "a study of studies/NAME.yaml (cats-vs-dogs, cifar10, ...) as DVC experiments"),
    "seeds": ("seeds", "the pipeline under several seeds as DVC experiments, and each method's mean (make seeds)"),
    "holdout": ("holdout", "the models of `seeds` runs scored on the images no split holds: recipes chosen off test"),
    "bench": ("bench", "images per second of every stage against a plain PyTorch loop (make bench)"),
    "precision": ("precision", "every trained model on the test split at fp32 and at bf16: what bf16 costs"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pawprint", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report", help="the study across all pipeline runs in MLflow: tables and accuracy vs unlabeled size"
    )
    report.add_argument("--out", default="reports/study", help="output folder (default: reports/study)")
    report.add_argument("--source", help="only runs on this data.source (digits, kaggle, cifar10, folder)")
    report.set_defaults(func=_report)
    predict = commands.add_parser("predict", help="classify image files or folders with a trained model")
    predict.add_argument(
        "--model", required=True, help="a model's stage name (kd, baseline, resnet50...), a .pt checkpoint, "
        "or an MLflow model URI (runs:/<run id>/model, models:/<name>/<version>)",
    )  # fmt: skip
    predict.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    predict.add_argument("--top-k", type=int, default=1, help="the k most likely classes per image (default 1)")
    predict.add_argument("--csv", help="also write the predictions to this CSV file")
    predict.set_defaults(func=_predict)
    for name, (module, summary) in TOOLS.items():  # each parses its own options: `pawprint <tool> --help`
        commands.add_parser(name, help=summary, add_help=False).set_defaults(tool=module)
    args, rest = parser.parse_known_args(argv)
    try:
        if getattr(args, "tool", None):
            importlib.import_module(f"pawprint.tools.{args.tool}").main(rest)
        elif rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        else:
            args.func(args)
    except PawprintError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
