"""`pawprint`: the commands around the pipeline (the pipeline itself is `dvc repro`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pawprint.errors import PawprintError


def _report(args: argparse.Namespace) -> None:
    from pawprint import study

    cells = study.from_mlflow(args.source)
    if not cells:
        raise PawprintError("no finished evaluate runs in the MLflow store; run `dvc repro` or `dvc exp run` first")
    for path in study.write(cells, Path(args.out)):
        print(f"wrote {path}")
    print(study.markdown(cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pawprint", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report", help="the study across all pipeline runs in MLflow: tables and accuracy vs unlabeled size"
    )
    report.add_argument("--out", default="reports/study", help="output folder (default: reports/study)")
    report.add_argument("--source", help="only runs on this data.source (digits, kaggle, cifar10, folder)")
    report.set_defaults(func=_report)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except PawprintError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
