"""`pawprint study NAME`: a study of `studies/NAME.yaml` as DVC experiments, one per grid point and seed.

A preset is the study's overrides of params.yaml, as dotted keys (what `dvc exp run -S` takes), plus an
optional grid (`unlabeled_size: [10000, 6000, 3000]`: one experiment per value) and, for a study that needs
the network, what it needs and the offline alternative. Each experiment is `dvc exp run --temp -S ...`, so
`dvc exp show`, the run cache and MLflow see it like any other; `--set KEY=VALUE` adds or replaces overrides
(to shrink a study, or to point it at a folder). The merged params are checked before anything runs.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pawprint import config
from pawprint.errors import PawprintError
from pawprint.paths import STUDIES_DIR, repo_root
from pawprint.tools.seeds import run_seed


def studies_dir() -> Path:
    return repo_root() / STUDIES_DIR


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    overrides: dict[str, Any]
    grid: dict[str, list[Any]] = field(default_factory=dict)
    needs: str = ""  # what the study fetches (the network), and the offline alternative
    offline: str = ""

    def points(self, extra: dict[str, Any]) -> list[dict[str, Any]]:
        """The overrides of each experiment: the preset's, one grid point, then `extra` (the user's --set)."""
        keys = [k for k in self.grid if k not in extra]
        return [
            {"study": self.name, **self.overrides, **dict(zip(keys, values)), **extra}
            for values in itertools.product(*(self.grid[k] for k in keys))
        ]


def available() -> list[str]:
    return sorted(p.stem for p in studies_dir().glob("*.yaml"))


def load(name: str) -> Preset:
    path = studies_dir() / f"{name}.yaml"
    if not path.is_file():
        raise PawprintError(f"no study {name!r}; known: {', '.join(available()) or 'none'} (studies/*.yaml)")
    raw = yaml.safe_load(path.read_text()) or {}
    allowed = ("description", "set", "grid", "needs", "offline", "published")
    unknown = set(raw) - set(allowed)
    if unknown or not isinstance(raw.get("set", {}), dict):
        raise PawprintError(f"{path}: unknown keys {sorted(unknown)}; a preset has {', '.join(allowed)}")
    return Preset(name, raw.get("description", ""), raw.get("set", {}), raw.get("grid", {}),
                  raw.get("needs", ""), raw.get("offline", ""))  # fmt: skip


def base_params() -> dict[str, Any]:
    """params.yaml as written: what a study's overrides apply to."""
    return yaml.safe_load((repo_root() / "params.yaml").read_text())


def parse_sets(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs, the value read as YAML, as DVC reads `-S`."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PawprintError(f"--set {item!r}: expected KEY=VALUE, e.g. --set data.folder=path/to/PetImages")
        out[key] = yaml.safe_load(value)
    return out


def resolve(base: dict[str, Any], overrides: dict[str, Any]) -> config.Params:
    """params.yaml with the overrides applied, checked, with the rules of `dvc exp run -S` (Hydra's override
    grammar): `key` sets a key that exists, `+key` adds one that does not (a KD run: `+distill_runs.NAME.teachers.
    vgg16=1.0`), `++key` does either; so a typo stops here rather than after an hour of training."""
    params = yaml.safe_load(yaml.safe_dump(base))
    for key, value in overrides.items():
        plain = key.lstrip("+")
        prefix = key[: len(key) - len(plain)]
        adds, sets = prefix in ("+", "++"), prefix in ("", "++")
        node = params
        *parents, last = plain.split(".")
        for part in parents:
            if adds and isinstance(node, dict) and part not in node:
                node[part] = {}
            node = node.get(part) if isinstance(node, dict) else None
        exists = isinstance(node, dict) and last in node
        if not isinstance(node, dict) or (exists and not sets) or (not exists and not adds):
            hint = f"`+{plain}` adds a key" if not exists else f"`{plain}` sets it"
            what = "already a key" if exists else "not a key"
            raise config.ConfigError(f"study: {plain} is {what} of params.yaml (`dvc exp run -S`: {hint})")
        node[last] = value
    return config.parse(params)


def _as_set(key: str, value: Any) -> str:
    return f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pawprint study", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help=f"the study: {', '.join(available())}")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per grid point (seed 0, 1, ...; default 1)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--target", help="the stage each run ends at (default: the whole pipeline)")
    parser.add_argument("--check", action="store_true", help="check the study's params and list its runs only")
    args = parser.parse_args(argv)
    try:
        if not args.name:
            raise PawprintError(f"name a study: {', '.join(available())}")
        preset = load(args.name)
        base = base_params()
        points = preset.points(parse_sets(args.sets))
        for point in points:
            resolve(base, point)
    except PawprintError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    runs = [(p, seed) for p in points for seed in range(args.seeds)]
    print(f"study {preset.name}: {preset.description} ({len(runs)} run{'s' * (len(runs) != 1)})")
    if preset.needs:
        print(f"needs {preset.needs}")
    stamp = time.strftime("%m%d-%H%M%S")
    for i, (point, seed) in enumerate(runs, 1):
        tag = "-".join(f"{k.rsplit('.', 1)[-1]}{point[k]}" for k in preset.grid if k in point)
        name = "-".join(filter(None, [preset.name, tag, f"seed{seed}", stamp]))
        sets = [_as_set(k, v) for k, v in point.items()]
        print(f"run {i} of {len(runs)}: {name}: dvc exp run -S " + " -S ".join(sets), flush=True)
        if args.check:
            continue
        try:
            run_seed(seed, name, sets, args.target)
        except subprocess.CalledProcessError:
            hint = f"; it needs {preset.needs}. Offline: {preset.offline}" if preset.needs else ""
            print(f"error: run {name} failed (its stage printed why, above){hint}", file=sys.stderr)
            sys.exit(1)
    if not args.check:
        print("done: `dvc exp show` lists the runs, `pawprint report` compares them over seeds")
