"""What every stage entry point shares: one-line errors, seeding, the MLflow run, and the end of a training
stage (best model, metrics JSON, plots CSV, artifacts). Stage files only choose data, model and params.

Lightning and the training modules are imported inside the functions that train: importing Lightning costs
about 4 s, which `prepare`, `split` and `evaluate` should not pay.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pawprint import config
from pawprint.errors import PawprintError
from pawprint.paths import atomic_path

SPLITS_DIR = Path("data/splits")
MODELS_DIR = Path("models")
STUDENTS_DIR = MODELS_DIR / "students"  # what evaluation compares: one file per method
TEACHERS_DIR = MODELS_DIR / "teachers"  # what distillation reads, evaluated too
PRETRAINED_DIR = MODELS_DIR / "pretrained"  # SimCLR backbones, inputs to fine-tuning only
METRICS_DIR = Path("metrics")
PLOTS_DIR = Path("plots")


def main(fn: Callable[[config.Params], None]) -> Callable[[], None]:
    """Run `fn` on validated params; any PawprintError becomes one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper() -> None:
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        try:
            params = config.load(os.environ.get("PAWPRINT_PARAMS", "params.yaml"))
            seed_all(params.seed)
            fn(params)
        except PawprintError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def seed_all(seed: int) -> None:
    """Seed before anything random happens, model initialisation included (stages build models first)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def argument(choices: list[str], what: str) -> str:
    """The variant a foreach stage runs (`python stages/x.py <name>`), checked against params."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name not in choices:
        raise PawprintError(f"{what} {name!r} is not in params.yaml; known: {', '.join(choices)} (see dvc.yaml)")
    return name


def metrics_path(model: Path) -> Path:
    """`models/students/kd.pt` -> `metrics/students/kd.json`: one folder per kind, as evaluation reads them."""
    return METRICS_DIR / model.parent.name / f"{model.stem}.json"


def plots_path(model: Path) -> Path:
    return PLOTS_DIR / model.parent.name / f"{model.stem}.csv"


def select(params: config.Params, *keys: str) -> dict[str, Any]:
    """The dotted params a stage depends on (a key names a value or a whole section)."""
    flat = config.flatten(params)
    return {k: v for k, v in flat.items() if any(k == key or k.startswith(key + ".") for key in keys)}


def write_json(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def split_files(*names: str) -> list[Path]:
    return [SPLITS_DIR / f"{name}.{ext}" for name in names for ext in ("npy", "csv")]


def train_and_save(
    name: str,
    params: config.Params,
    *,
    out: Path,
    module,
    train_set,
    val_set,
    max_epochs: int,
    tracked: dict[str, Any],
    inputs: list[Path],
    method: str,
    save: Callable[[Path], None],
    callbacks: tuple = (),
) -> None:
    """Fit `module` under the MLflow run of stage `name`, then write the model `out`, its metrics and plots.

    Under DDP the other processes train their shard and leave the run and every output to rank 0.
    """
    from pawprint import device
    from pawprint.data.loaders import loader
    from pawprint.tracking import stage_run
    from pawprint.training import fit, resume_key

    batch = params.train.batch_size
    train = functools.partial(
        fit,
        module,
        loader(train_set, batch, train=True, processes=params.train.processes),
        loader(val_set, batch, train=False),
        stage=name,
        train=params.train,
        max_epochs=max_epochs,
        plots_csv=plots_path(out),
        key=resume_key(name, tracked, inputs),
        callbacks=callbacks,
    )
    if device.global_rank(params.train.devices):
        train(run=None)
        return
    data_files = [p for p in inputs if p.parent == SPLITS_DIR]
    with stage_run(name, tracked, data_files) as run:
        run.set_tags({"method": method, "unlabeled_size": params.unlabeled_size, "processes": params.train.processes})
        result = train(run=run)
        save(out)
        best = next(r for r in result.history if r["epoch"] == result.best_epoch)
        summary = {
            **{k: v for k, v in best.items() if k.startswith("val/")},
            "best_epoch": result.best_epoch,
            "epochs": result.epochs_run,
            "wall_time_s": round(result.wall_time_s, 2),
        }
        write_json(metrics_path(out), summary)
        run.log_metrics({f"best/{k}" if "/" in k else k: v for k, v in summary.items()})
        run.log_artifact(out, "model")
        run.log_artifact(plots_path(out), "plots")


def num_classes() -> int:
    from pawprint.data import cache

    return len(cache.classes(SPLITS_DIR))


def supervised(
    name: str,
    params: config.Params,
    *,
    out: Path,
    model,
    arch: str,
    optim,
    tracked: tuple[str, ...],
    method: str,
    extra_inputs: tuple[Path, ...] = (),
    image_size: int | None = None,
    probe_epochs: int = 0,
) -> None:
    """Train `model` with labels (baseline, teachers, fine-tuning): labeled split, best epoch on val.

    `probe_epochs`: train the head alone first (a linear probe on a pretrained backbone), then everything.
    """
    from pawprint import models
    from pawprint.augment import SupervisedAugment
    from pawprint.data import cache, loaders
    from pawprint.training import LinearProbeFirst, Module

    labeled, val = cache.load(SPLITS_DIR, "labeled"), cache.load(SPLITS_DIR, "val")
    size = image_size or params.data.image_size
    module = Module(model, SupervisedAugment(size, params.augment.min_scale, params.augment.hflip), size, optim)
    train_and_save(
        name,
        params,
        out=out,
        callbacks=(LinearProbeFirst(probe_epochs),) if probe_epochs else (),
        module=module,
        train_set=loaders.labeled(labeled),
        val_set=loaders.labeled(val),
        max_epochs=optim.epochs,
        tracked=select(params, "seed", "train", "augment", "data.image_size", *tracked),
        inputs=[*split_files("labeled", "val"), *extra_inputs],
        method=method,
        save=lambda path: models.save(
            model, path, arch=arch, classes=labeled.classes, image_size=size, cache_size=params.data.cache_size
        ),
    )
