"""`pawprint seeds` (`make seeds`): the pipeline under several training seeds, as DVC experiments, and the mean
test accuracy per method. With a few hundred labels two runs of one recipe differ by several points: never
judge from one.

Each seed is `dvc exp run --temp -S seed=N` (run outside the workspace, which stays as it is); the split does
not depend on the seed, so DVC reuses it. The table, then the verdict of each model against the baseline over
these seeds (`pawprint report`'s, from their evaluate runs in MLflow), go to stdout and `reports/seeds.md`.
`--set KEY=VALUE` passes more overrides to every seed (`--set train.precision=32` for the fp32 reference of the
speed levers), and `--label` names the table (`reports/seeds-<label>.md`); `--target STAGE` stops each run at
that stage (`--target evaluate`: every model and its test metrics, without the export and report stages, which
add minutes per seed and no accuracy; a stage before `evaluate` gets no table, its runs having no test metrics
of their own). `--compare A B` then sets two labels side by side
(`reports/seeds-A-vs-B.md`, each seed's newest run of each label): whether each model's mean under A lies within
one seed-to-seed standard deviation of its mean under B, and McNemar's exact test of the model under A against
itself under B on the same test images: whether a speed lever (A) costs accuracy against its reference (B).
`--from L` starts each seed from label L's experiment of that seed (its results, the workspace's code and
params): only the stages that the overrides or a code change touch run again, so a distillation setting over
three seeds costs the distilled students, not the teachers. The workspace is restored afterwards.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import subprocess
import time
from pathlib import Path

from pawprint.tools import dvc

SUFFIX = ".accuracy"


# What `--from` takes from the workspace rather than from the earlier experiment: what decides a stage's result.
SOURCES = ("src", "stages", "dvc.yaml", "params.yaml")


def run_seed(seed: int, name: str, overrides: list[str], target: str | None = None, start: str | None = None) -> None:
    """One seed as `dvc exp run --temp`; `start`: the commit of an earlier experiment to start from."""
    sets = [arg for value in overrides for arg in ("-S", value)]
    targets = [target] if target else []
    if start:  # its dvc.lock and metrics: DVC finds its stages up to date and checks their outputs out of the cache
        subprocess.run(["git", "checkout", start, "--", "."], check=True)
        subprocess.run(["git", "checkout", "HEAD", "--", *SOURCES], check=True)
    dvc("exp", "run", "--temp", "-n", name, "-S", f"seed={seed}", *sets, *targets, check=True)


def reaches_evaluate(target: str | None) -> bool:
    """Whether `dvc exp run TARGET` runs `evaluate`. When it does not, each experiment's metrics/evaluate.json
    is the commit's, not its own, and a table of it would show one old run as every seed."""
    if not target:
        return True
    from dvc.repo import Repo

    with Repo(".") as repo:
        return any(stage.addressing == "evaluate" for stage in repo.stage.collect(target, with_deps=True))


def clean_workspace() -> None:
    """`--from` rewrites the tracked files; refuse rather than lose uncommitted work."""
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    if changed:
        raise SystemExit(
            f"--from needs a workspace without uncommitted changes to tracked files ({changed.split()[1]}, ...): "
            "commit or stash them first"
        )


def restore_workspace() -> None:
    """Safe after `clean_workspace`: no tracked file held anything but HEAD's (the outputs DVC tracks never moved:
    each run checks its own out in its temporary copy)."""
    subprocess.run(["git", "reset", "--quiet", "--hard", "HEAD"], check=True)


def experiments() -> dict[str, dict[str, float]]:
    """Test accuracy per experiment and model, from `dvc exp show --csv` (columns `<model>.accuracy` of
    metrics/evaluate.json)."""
    out = dvc("exp", "show", "--csv", "-A", capture_output=True, text=True, check=True).stdout
    return {
        row["Experiment"]: {
            k.rsplit(":", 1)[-1].removesuffix(SUFFIX): float(v) for k, v in row.items() if k.endswith(SUFFIX) and v
        }
        for row in csv.DictReader(io.StringIO(out))
        if row.get("Experiment")
    }


def experiment_revs() -> dict[str, str]:
    """Experiment name -> its commit, from the refs `dvc exp` keeps."""
    out = subprocess.run(
        ["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {ref.rsplit("/", 1)[-1]: sha for sha, ref in (line.split(" ", 1) for line in out.splitlines())}


def newest_per_seed(label: str, names, at_least: int = 2) -> list[str]:
    """Each seed's newest experiment with this label (names `<label>-seed<N>-<stamp>`), by seed: a later
    `--label L --seeds 3 4` adds seeds to L's earlier ones, and a rerun of a seed replaces it."""
    pattern = re.compile(rf"{re.escape(label)}-seed(\d+)-(\d{{4}}-\d{{6}})")
    newest: dict[int, tuple[str, str]] = {}
    for name in names:
        if m := pattern.fullmatch(name):
            newest[int(m[1])] = max(newest.get(int(m[1]), ("", "")), (m[2], name))
    if not newest:
        raise SystemExit(f"no experiment is labelled {label!r}: run `pawprint seeds --label {label}` first")
    if len(newest) < at_least:
        raise SystemExit(f"label {label!r} has one seed: a standard deviation needs `--seeds` with two or more")
    return [newest[seed][1] for seed in sorted(newest)]


def comparison(
    label_a: str,
    a: list[dict[str, float]],
    label_b: str,
    b: list[dict[str, float]],
    paired: dict[str, str] | None = None,
) -> str:
    """Each model's mean under A beside B's, whether it lies within one seed-to-seed std of B's, and, where
    `paired` has it, the paired test of the two on the same test images (`paired_tests`)."""

    def cell(accs: list[float]) -> str:
        return f"{statistics.mean(accs):.3f} ± {statistics.stdev(accs):.3f}"

    paired = paired or {}
    test = " paired test (McNemar, seeds pooled) |" if paired else ""
    lines = [
        f"| model | {label_a} mean ± std | {label_b} mean ± std | difference | within one std of {label_b} |{test}",
        "|---|---|---|---|---|" + ("---|" if paired else ""),
    ]
    for model in [m for m in a[0] if m in b[0]]:  # a model only one side trained is not compared
        accs_a, accs_b = [r[model] for r in a], [r[model] for r in b]
        diff = statistics.mean(accs_a) - statistics.mean(accs_b)
        within = "yes" if abs(diff) <= statistics.stdev(accs_b) else "**no**"
        extra = f" {paired.get(model, '-')} |" if paired else ""
        lines.append(f"| {model} | {cell(accs_a)} | {cell(accs_b)} | {diff:+.3f} | {within} |{extra}")
    return "\n".join(lines) + f"\n\n{len(a)} seeds of {label_a}, {len(b)} of {label_b}; sample standard deviations.\n"


def seed_of(name: str) -> int:
    return int(re.search(r"seed(\d+)-\d{4}-\d{6}$", name)[1])


def _made_by(runs, seed: int, accuracies: dict[str, float]) -> list:
    """The evaluate runs that wrote this experiment's accuracies: its own, or, for a seed DVC restored from its
    run cache (no stage ran under its name), the run whose outputs it restored."""
    return [run for run in runs if run.data.params.get("seed") == str(seed) and _made(run, accuracies)]


def paired_tests(label_b: str, names_a: list[str], names_b: list[str], found: dict[str, dict[str, float]]) -> dict:
    """model -> the sentence of McNemar's exact test of A's predictions against B's, seed by seed on the same
    test images, the discordant images of every seed pooled (`verdict.compare`, B in the baseline's place)."""
    from pawprint import study

    client, runs = study.evaluate_runs()

    def predictions(name: str):
        made = _made_by(runs, seed_of(name), found.get(name, {}))
        return study.predictions(client, made[0]) if made else None

    b_of = {seed_of(name): name for name in names_b}
    pairs = [(predictions(a), predictions(b_of[seed_of(a)])) for a in names_a if seed_of(a) in b_of]
    pairs = [(a, b) for a, b in pairs if a and b]
    if not pairs:
        return {}
    out = {}
    for model in [m for m in pairs[0][0] if all(m in a and m in b and a[m][0] == b[m][0] for a, b in pairs)]:
        seeds = [(*b[model], a[model][1]) for a, b in pairs]
        out[model] = study.paired_verdict(model, seeds, baseline=label_b).sentence(baseline=label_b)
    return out


def table(
    results: dict[str, dict[str, float]], names: list[str], seeds: list[int], minutes: list[float], start: str = ""
) -> str:
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
    if start:
        lines[-1] += f" (each from {start}'s run of its seed: only the stages that changed)"
    return "\n".join(lines) + "\n"


def verdict(names: list[str], seeds: list[int], results: dict[str, dict[str, float]]) -> str:
    """The verdict over the evaluate runs that made these experiments' outputs: of each experiment's seed, with
    its test accuracies. That is its own run, or, for a seed DVC restored from its run cache (no stage ran
    under its name), the run of the workspace or the earlier experiment whose outputs it restored."""
    from pawprint import study

    client, runs = study.evaluate_runs()
    chosen = [run for name, seed in zip(names, seeds) for run in _made_by(runs, seed, results.get(name, {}))]
    lines = study.verdicts(client, chosen)
    return "".join(f"\n- {line}" for line in lines) + ("\n" if lines else "")


def _made(run, accuracies: dict[str, float]) -> bool:
    """Whether this evaluate run wrote these accuracies (metrics/evaluate.json keeps 4 decimals)."""
    logged = run.data.metrics
    return bool(accuracies) and all(
        round(logged.get(f"test/{model}/accuracy", -1.0), 4) == acc for model, acc in accuracies.items()
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pawprint seeds", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--label", default="")
    parser.add_argument("--target", help="the stage each run ends at (default: the whole pipeline)")
    parser.add_argument("--from", dest="start", metavar="LABEL", help="start each seed from this label's run")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="labels of two earlier runs: A against B")
    args = parser.parse_args(argv)
    Path("reports").mkdir(exist_ok=True)
    if args.compare:
        found = experiments()
        label_a, label_b = args.compare
        names_a, names_b = (newest_per_seed(label, found) for label in args.compare)
        paired = paired_tests(label_b, names_a, names_b, found)
        text = comparison(label_a, [found[n] for n in names_a], label_b, [found[n] for n in names_b], paired)
        Path(f"reports/seeds-{label_a}-vs-{label_b}.md").write_text(text)
        print(text)
        return
    stamp = time.strftime("%m%d-%H%M%S")
    prefix = f"{args.label}-" if args.label else ""
    starts = {}
    if args.start:
        clean_workspace()
        revs = experiment_revs()
        starts = {seed_of(name): revs[name] for name in newest_per_seed(args.start, revs, at_least=1)}
        if missing := [seed for seed in args.seeds if seed not in starts]:
            raise SystemExit(f"label {args.start!r} has no run of seed {missing[0]}: run it, or leave that seed out")
    tabulate = reaches_evaluate(args.target)
    names, minutes = [], []
    try:
        for seed in args.seeds:
            name = f"{prefix}seed{seed}-{stamp}"
            start = time.time()
            run_seed(seed, name, args.overrides, args.target, starts.get(seed))
            minutes.append((time.time() - start) / 60)
            names.append(name)
    finally:
        if starts:
            restore_workspace()
    if not tabulate:
        print(f"the runs stopped at {args.target}, before evaluate: no test accuracies to tabulate; "
              "`dvc exp show` lists each run's metrics")  # fmt: skip
        return
    found = experiments()
    text = table({name: found[name] for name in names}, names, args.seeds, minutes, args.start or "") + verdict(
        names, args.seeds, found
    )
    Path(f"reports/seeds{'-' + args.label if args.label else ''}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
