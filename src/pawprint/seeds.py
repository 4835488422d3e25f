"""`make seeds`: the pipeline under several training seeds, as DVC experiments, and the mean test accuracy
per method. With a few hundred labels two runs of one recipe differ by several points: never judge from one.

Each seed is `dvc exp run --temp -S seed=N` (run outside the workspace, which stays as it is); the split does
not depend on the seed, so DVC reuses it. The table goes to stdout and `reports/seeds.md`. `--set KEY=VALUE`
passes more overrides to every seed (`--set train.precision=32` for the fp32 reference of the speed levers),
and `--label` names the table (`reports/seeds-<label>.md`).
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import subprocess
import time
from pathlib import Path

SUFFIX = ".accuracy"


def run_seed(seed: int, name: str, overrides: list[str]) -> None:
    sets = [arg for value in overrides for arg in ("-S", value)]
    subprocess.run(["dvc", "exp", "run", "--temp", "-n", name, "-S", f"seed={seed}", *sets], check=True)


def accuracies(names: list[str]) -> dict[str, dict[str, float]]:
    """Test accuracy per experiment and model, from `dvc exp show --csv` (columns `<model>.accuracy` of
    metrics/evaluate.json)."""
    out = subprocess.run(["dvc", "exp", "show", "--csv", "-A"], capture_output=True, text=True, check=True).stdout
    rows = {r["Experiment"]: r for r in csv.DictReader(io.StringIO(out)) if r.get("Experiment") in names}
    result = {}
    for name, row in rows.items():
        result[name] = {
            k.rsplit(":", 1)[-1].removesuffix(SUFFIX): float(v) for k, v in row.items() if k.endswith(SUFFIX) and v
        }
    return result


def table(results: dict[str, dict[str, float]], names: list[str], seeds: list[int], minutes: list[float]) -> str:
    lines = [
        "| model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | std |",
        "|---" * (len(seeds) + 3) + "|",
    ]
    for model in results[names[0]]:
        accs = [results[name][model] for name in names]
        cells = " | ".join(f"{a:.3f}" for a in accs)
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        lines.append(f"| {model} | {cells} | {statistics.mean(accs):.3f} | {std:.3f} |")
    lines.append("")
    lines.append("Minutes per run: " + ", ".join(f"{m:.1f}" for m in minutes))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    stamp = time.strftime("%m%d-%H%M%S")
    prefix = f"{args.label}-" if args.label else ""
    names, minutes = [], []
    for seed in args.seeds:
        name = f"{prefix}seed{seed}-{stamp}"
        start = time.time()
        run_seed(seed, name, args.overrides)
        minutes.append((time.time() - start) / 60)
        names.append(name)
    text = table(accuracies(names), names, args.seeds, minutes)
    Path("reports").mkdir(exist_ok=True)
    Path(f"reports/seeds{'-' + args.label if args.label else ''}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
