"""The common body of every training stage: fit the module under the stage's MLflow run, then write the model,
its metrics JSON and plots CSV and log them as artifacts. Stage files only choose data, model and params."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pawprint import config, device, models
from pawprint.augment import SupervisedAugment
from pawprint.data import cache, loaders
from pawprint.paths import SPLITS_DIR, metrics_path, plots_path, split_files
from pawprint.run_logger import StageLogger
from pawprint.stage import select, write_json
from pawprint.tracking import stage_run
from pawprint.training import LinearProbeFirst, Module, fit, resume_key


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
    batch = params.train.batch_size
    train = functools.partial(
        fit,
        module,
        loaders.loader(train_set, batch, train=True, processes=params.train.processes),
        loaders.loader(val_set, batch, train=False),
        stage=name,
        train=params.train,
        max_epochs=max_epochs,
        plots_csv=plots_path(out),
        key=resume_key(name, tracked, inputs),
        callbacks=callbacks,
    )
    if device.global_rank(params.train.devices):
        train()
        return
    data_files = [p for p in inputs if p.parent == SPLITS_DIR]
    with stage_run(name, tracked, data_files) as run:
        run.set_tags({"method": method, "unlabeled_size": params.unlabeled_size, "processes": params.train.processes})
        result = train(loggers=[StageLogger(run)])
        run.set_tags({"accelerator": result.device, "precision": result.precision})
        save(out)
        best = next(r for r in result.history if r["epoch"] == result.best_epoch)
        summary = {
            **{k: v for k, v in best.items() if k.startswith("val/")},
            "best_epoch": result.best_epoch,
            "epochs": result.epochs_run,
        }
        write_json(metrics_path(out), summary)  # results only: `dvc metrics diff` and `dvc exp show` compare them
        run.log_metrics(
            {f"best/{k}" if "/" in k else k: v for k, v in summary.items()} | {"wall_time_s": result.wall_time_s}
        )
        run.log_artifact(out, "model")
        run.log_artifact(plots_path(out), "plots")


def num_classes() -> int:
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
    labeled, val = cache.load(SPLITS_DIR, "labeled"), cache.load(SPLITS_DIR, "val")
    size = image_size or params.data.image_size
    module = Module(model, SupervisedAugment.of(params.augment, size), size, optim)
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
