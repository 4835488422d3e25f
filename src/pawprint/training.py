"""The one training loop every stage uses: Lightning's Trainer with early stopping on `val/loss`, the best
epoch kept automatically, per-epoch metrics to the loggers it is given and to a CSV for `dvc plots`, and
resumable checkpoints. It knows Lightning only: the stages pass MLflow in as a logger (`run_logger.py`).

Lightning rather than a hand-written loop: it brings early stopping, best-checkpoint selection, mixed
precision, progress bars, resuming with optimizer and scheduler state, and DDP over several GPUs or nodes,
all driven by params. Augmentation runs in `on_after_batch_transfer`, i.e. on the batch's device. The package
is `pytorch_lightning` throughout, never `lightning`: lightly's modules build on it, and the two packages'
classes do not mix (a callback or logger of one is not one of the other's Trainer).

Resuming: each stage writes `last.ckpt` every epoch under `.cache/pawprint/resume/<stage>/<key>`, where the key
hashes the stage's params and input files, so a rerun with the same inputs continues where a killed run
stopped and any change starts afresh. The torch RNG state travels in the checkpoint, so a resumed CPU run
ends with the same weights as an uninterrupted one.

Several processes (`train.devices` x `train.num_nodes` > 1): PyTorch DDP through Lightning. Its launcher
re-executes the stage script once per extra process, so everything before `fit` runs in each of them; the
stages open the MLflow run and write outputs in rank 0 only (`device.global_rank`). Lightning gives each
process its shard of the data (a DistributedSampler over our plain DataLoaders) and averages gradients.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from filelock import FileLock, Timeout
from pytorch_lightning.callbacks import BackboneFinetuning, EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.plugins.io import TorchCheckpointIO
from torch.nn.modules.batchnorm import _BatchNorm

from pawprint import device
from pawprint.augment import model_input
from pawprint.config import OptimConfig, TrainConfig
from pawprint.paths import atomic_path, digest, resume_dir
from pawprint.verdict import ONE_CLASS_SHARE

MONITOR = "val/loss"
MODES = {"val/loss": "min", "val/accuracy": "max"}
SELECT = "select/score"  # what the kept epoch is chosen by (`train.keep`), every collapsed epoch ranked last
COLLAPSED = 1e6  # added to a collapsed epoch's score: above any loss a learning epoch has


class Module(pl.LightningModule):
    """Supervised training of `model` on augmented labeled batches; subclasses change the training loss."""

    has_accuracy = True  # logs val/accuracy, so `train.monitor` may select epochs on it

    def __init__(self, model: torch.nn.Module, augment, image_size: int, optim: OptimConfig):
        super().__init__()
        self.model = model
        self.augment = augment
        self.image_size = image_size
        self.optim = optim
        self.monitor = MONITOR  # what `fit` keeps the best epoch by (train.monitor)
        self.keep = "best"  # train.keep, set by `fit`
        self.schedule = "cosine"  # the learning-rate schedule (train.schedule), set by `fit`
        self._val_stats: torch.Tensor | None = None
        self._train_stats: torch.Tensor | None = None

    def training_batch(self, batch):
        """A training batch as the training step takes it: images augmented, then as the model's input."""
        images, labels = batch
        return self.augment(images).contiguous(memory_format=torch.channels_last), labels

    def on_fit_start(self) -> None:
        self.to(memory_format=torch.channels_last)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer.training:
            return self.training_batch(batch)
        images, labels = batch
        return model_input(images, self.image_size), labels

    @property
    def backbone(self) -> torch.nn.Module:
        """For Lightning's BackboneFinetuning (the linear probe); a property, so it is not registered twice."""
        return self.model.backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_loss(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, logits, labels) of a training batch; labels -1 mark images without one."""
        x, y = batch
        logits = self(x)
        return F.cross_entropy(logits.float(), y), logits, y

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, logits, y = self.training_loss(batch)
        known = y >= 0
        self.tally(loss, len(y), correct=(logits.detach().argmax(1) == y).sum(), labeled=known.sum())
        return loss

    def tally(self, loss: torch.Tensor, n: int, correct: torch.Tensor | None = None, labeled=None) -> None:
        """Add a training step to the epoch's sums, logged once per epoch (`on_validation_epoch_end`).

        `self.log` at every step would cost more than a small network's training step on a CPU.
        """
        zero = loss.new_zeros(())
        step = torch.stack([loss.detach() * n, loss.new_tensor(float(n)), *(v if v is not None else zero
                            for v in (correct, labeled))]).float()  # fmt: skip
        self._train_stats = step if self._train_stats is None else self._train_stats + step

    def on_train_epoch_start(self) -> None:
        self._train_stats = None

    def validation_step(self, batch, batch_idx: int) -> None:
        # sync_dist: under DDP each process sees a shard of val; early stopping and the best epoch go by all of it.
        x, y = batch
        logits = self(x).float()
        loss, acc = F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()
        self.log(MONITOR, loss, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)
        self.log("val/accuracy", acc, on_epoch=True, batch_size=len(y), sync_dist=True)
        n = float(len(y))
        counts = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).float()
        stats = torch.cat([torch.stack([loss.detach() * n, acc * n, loss.new_tensor(n)]), counts])
        self._val_stats = stats if self._val_stats is None else self._val_stats + stats

    def on_validation_epoch_start(self) -> None:
        self._val_stats = None

    def on_validation_epoch_end(self) -> None:
        """The epoch's training means (validation ends each training epoch), and its selection score (lower is
        better): its `train.monitor` value, or minus its epoch number with `train.keep` = last, plus
        `COLLAPSED` when it gives one class to more than `verdict.ONE_CLASS_SHARE` of val. A network from
        scratch often reaches its lowest early val loss by predicting the majority class; such an epoch is kept
        only if every epoch is."""
        if self._train_stats is not None:
            loss_sum, n, correct, labeled = self.trainer.strategy.reduce(self._train_stats, reduce_op="sum")
            self.log("train/loss", loss_sum / n, prog_bar=True)
            if labeled > 0:
                self.log("train/accuracy", correct / labeled)
        if self._val_stats is None:
            return
        stats = self.trainer.strategy.reduce(self._val_stats, reduce_op="sum")  # every process's shard of val
        loss, accuracy, n, counts = stats[0] / stats[2], stats[1] / stats[2], stats[2], stats[3:]
        if self.keep == "last":
            score = loss.new_tensor(-float(self.current_epoch))
        else:
            score = loss if self.monitor == MONITOR else -accuracy
        self.log(SELECT, score + COLLAPSED * float(counts.max() > ONE_CLASS_SHARE * n))

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        # One fused kernel for every tensor's update: a tenth of a small network's step time on a CPU.
        fused = self.device.type in ("cpu", "cuda")
        opt = torch.optim.AdamW(params, lr=self.optim.lr, weight_decay=self.optim.weight_decay, fused=fused)
        if self.schedule == "onecycle":
            steps = self.trainer.estimated_stepping_batches
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.optim.lr, total_steps=steps, pct_start=0.15)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.trainer.max_epochs)
        return {"optimizer": opt, "lr_scheduler": sched}


class EpochLog(pl.Callback):
    """Per-epoch metrics to `plots/<stage>.csv`, kept across resumes; what the loggers miss, sent to them.

    A row is written at the end of the training epoch, after its validation, which logs the epoch's training
    means (`Module.on_validation_epoch_end`) beside the val metrics. Lightning sends the logged
    metrics to the loggers itself; this adds `train/images` (the images trained on in the epoch by all
    processes; under DDP each process also prints its share once), `time/epoch_s` (its wall time, validation
    included: the record of how long training took, which is no result and so not in the metrics JSON) and,
    after a resume, the epochs done before it, which belong to the resumed run's history too. Off a terminal it
    also prints the row's main numbers, the log's record of progress.
    """

    def __init__(self, csv_path: Path, stage: str, on_terminal: bool = False):
        self.csv_path = csv_path
        self.stage = stage
        self.on_terminal = on_terminal  # else Lightning shows no bar, and each epoch ends with a line
        self.rows: list[dict[str, float]] = []
        self.seen = 0

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state["rows"])

    @staticmethod
    def _log(trainer, row: dict[str, float]) -> None:
        for logger in trainer.loggers:
            logger.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))

    def on_fit_start(self, trainer, pl_module) -> None:
        for row in self.rows:
            self._log(trainer, row)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.seen = 0
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.seen += len(batch[0])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        total = int(trainer.strategy.reduce(torch.tensor(float(self.seen)), reduce_op="sum"))
        epoch = trainer.current_epoch + 1
        if trainer.world_size > 1 and epoch == 1:
            print(
                f"{self.stage}: process {trainer.global_rank} of {trainer.world_size} trained on {self.seen} "
                f"of the {total} images of epoch 1",
                flush=True,
            )
        row = {"epoch": epoch, "train/images": total, "time/epoch_s": round(time.perf_counter() - self.started, 3)}
        self._log(trainer, row)
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if "/" in k})
        self.rows.append(row)
        if not self.on_terminal and trainer.is_global_zero:
            shown = ", ".join(f"{k} {row[k]:.4g}" for k in ("train/loss", "val/loss", "val/accuracy") if k in row)
            print(f"{self.stage}: epoch {epoch} of {trainer.max_epochs} in {row['time/epoch_s']:.1f} s, {shown}",
                  flush=True)  # fmt: skip

    def write_csv(self) -> None:
        keys = sorted({k for row in self.rows for k in row} - {"epoch"})
        with atomic_path(self.csv_path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["epoch", *keys])
            writer.writeheader()
            writer.writerows(self.rows)


class PatientEarlyStopping(EarlyStopping):
    """Early stopping whose patience starts counting only after `start_epoch` epochs.

    With 200 labels an epoch is three steps, and a network from scratch needs some before its val loss
    means anything. (Trainer's `min_epochs` is no substitute: a stop decided earlier still fires at once.)
    """

    def __init__(self, start_epoch: int, *args, **kwargs):
        super().__init__(*args, check_on_train_epoch_end=False, **kwargs)
        self.start_epoch = start_epoch

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 >= self.start_epoch:
            super().on_validation_end(trainer, pl_module)


class LinearProbeFirst(BackboneFinetuning):
    """A linear probe for `epochs` epochs (backbone frozen, batch-norm included), then the whole network.

    The backbone joins the optimizer at the head's current learning rate and follows it from then on
    (Lightning's default would start it 10x lower and grow it 1.5x per epoch).
    """

    def __init__(self, epochs: int):
        super().__init__(unfreeze_backbone_at_epoch=epochs, lambda_func=lambda _: 1.0, backbone_initial_ratio_lr=1.0)

    def freeze_before_training(self, pl_module) -> None:
        self.freeze(pl_module.backbone, train_bn=False)


class PreciseBatchNorm(pl.Callback):
    """Batch-norm statistics recomputed from training images before each validation (precise BN, as in
    fvcore and timm): a plain average over up to `batches` batches instead of the running one.

    The running averages trail the weights: with a few hundred labels an epoch is three steps, and a network
    from scratch validates at chance for its first epochs while it is already learning. Recomputed, val
    measures the weights as they are, so early stopping and the kept epoch go by what the model can do, and
    the kept model carries the statistics it was judged with. Training itself is unchanged (it normalises
    with batch statistics); the images go in as training sees them (augmented, as fvcore does: the weights
    were fitted to those statistics), and the RNG is restored afterwards, so batch order and crops are
    those of a run without it. Layers that do not train keep theirs: frozen blocks
    (`unfreeze`), and the backbone of a linear probe, which torch's `swa_utils.update_bn` would reset.
    """

    def __init__(self, batches: int = 16):
        self.batches = batches

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        model = pl_module.model.train()  # Classifier.train leaves its frozen blocks in eval mode
        layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.training and m.track_running_stats]
        if not layers:  # no batch norm, or none that trains (fit runs no sanity check, so none to skip)
            model.eval()
            return
        momenta = [m.momentum for m in layers]
        for m in layers:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches below
        device = pl_module.device  # a GPU's augmentation draws from that GPU's generator
        gpus = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=gpus), torch.no_grad(), trainer.precision_plugin.forward_context():
            for batch in itertools.islice(trainer.train_dataloader, self.batches):
                # the transfer hook alone: `batch_to_device` would also run `on_after_batch_transfer`,
                # which outside training prepares val's un-augmented input
                model(pl_module.training_batch(pl_module.transfer_batch_to_device(batch, device, 0))[0])
        for m, momentum in zip(layers, momenta, strict=True):
            m.momentum = momentum
        model.eval()


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning writes checkpoints in place; a kill mid-write would leave a truncated `last.ckpt` that the
    next run could not resume from. Write to a temporary sibling and rename instead."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class RngState(pl.Callback):
    """Torch's RNG state in every checkpoint, so a resumed run draws the same crops and batches.

    Under DDP every process starts from the same seed (and a resume restores rank 0's state everywhere);
    each then moves to a stream of its own, or all would draw the same crop parameters for their shards.
    """

    def state_dict(self) -> dict[str, Any]:
        return {"torch": torch.get_rng_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.world_size > 1:
            torch.manual_seed(int(torch.randint(0, 2**62, ())) + trainer.global_rank)


def resume_key(stage: str, params: dict[str, Any], inputs: list[Path]) -> str:
    """Changes when any param or input file of the stage changes: a resume never mixes two configurations."""
    return digest(inputs, json.dumps({"stage": stage, "params": params}, sort_keys=True, default=str))[:20]


@dataclass(frozen=True)
class FitResult:
    best_epoch: int
    epochs_run: int
    history: list[dict[str, float]]

    @property
    def wall_time_s(self) -> float:
        """Every epoch's wall time, those before a resume too."""
        return round(sum(row["time/epoch_s"] for row in self.history), 1)

    device: str  # where it really trained (cuda, mps, cpu) and at which Lightning precision
    precision: str


CHECKPOINT_DIR_ENV = "PAWPRINT_CHECKPOINT_DIR"


@contextlib.contextmanager
def checkpoint_dir(parent: Path, key: str, *, resume: bool, rank: int = 0) -> Iterator[Path]:
    """The folder for this run's checkpoints, owned by one process at a time.

    The first process with a key takes `<parent>/<key>` under an exclusive lock: it resumes what is there (or
    clears it when `resume` is off) and removes it when training finishes, so a forced rerun starts afresh.
    A second process with the same key at the same time (two queued experiments that share a teacher) gets a
    private folder instead: correct, just not resumable. A failure keeps the shared folder for the next run.

    Under DDP rank 0 owns the folder and passes its choice in the environment, which Lightning's launcher
    hands to the processes it starts (processes torchrun starts on their own take `<parent>/<key>`).
    """
    if rank:
        yield Path(os.environ.get(CHECKPOINT_DIR_ENV) or parent / key)
        return
    parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(parent / f"{key}.lock")
    try:
        lock.acquire(timeout=0)
        path, owned = parent / key, True
        if not resume:
            shutil.rmtree(path, ignore_errors=True)
    except Timeout:
        path, owned = Path(tempfile.mkdtemp(prefix=f"{key}-{os.getpid()}-", dir=parent)), False
    with contextlib.ExitStack() as held:
        if owned:
            held.callback(lock.release)
        os.environ[CHECKPOINT_DIR_ENV] = str(path)
        try:
            yield path
        except BaseException:
            if not owned:
                shutil.rmtree(path, ignore_errors=True)
            raise
        shutil.rmtree(path, ignore_errors=True)


def _quiet_lightning() -> None:
    """Keep warnings and errors; drop Lightning's banners (hardware lines, advertising tips)."""
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning_fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def fit(
    module: Module,
    train_loader,
    val_loader,
    *,
    stage: str,
    train: TrainConfig,
    max_epochs: int,
    plots_csv: Path,
    key: str,
    callbacks: tuple = (),
    loggers: Sequence[Logger] = (),
) -> FitResult | None:
    """Train to early stop (to the schedule's end with `train.keep` = last), then load the kept epoch's weights
    into `module`.

    Under DDP only rank 0 gets a result (and the best weights, and writes the plots CSV); the others get None.
    """
    _quiet_lightning()
    rank = device.global_rank(train.devices)
    with checkpoint_dir(resume_dir() / stage, key, resume=train.resume, rank=rank) as ckpt_dir:
        monitor = train.monitor if module.has_accuracy else MONITOR
        mode = MODES[monitor]
        module.monitor = monitor
        module.keep = train.keep
        module.schedule = train.schedule
        select, select_mode = (SELECT, "min") if module.has_accuracy else (monitor, mode)
        # Saved at the end of the training epoch, after EpochLog has put that epoch's row in its state.
        best = ModelCheckpoint(
            dirpath=ckpt_dir, filename="best", monitor=select, mode=select_mode, save_last=True,
            save_on_train_epoch_end=True,
        )  # fmt: skip
        stops = train.keep == "best" or not module.has_accuracy  # `last` runs the schedule to its end
        early_stopping = [PatientEarlyStopping(train.min_epochs, monitor, patience=train.patience, mode=mode)] * stops
        # Lightning's bar on a terminal; in a log (DVC's captured output, CI) one line an epoch instead, and no
        # refresh thread taking the CPU from training.
        on_terminal = sys.stderr.isatty()
        log = EpochLog(plots_csv, stage, on_terminal)
        trainer = pl.Trainer(
            max_epochs=max_epochs,
            accelerator=device.accelerator(),
            strategy=train.strategy,
            devices=train.devices,
            num_nodes=train.num_nodes,
            precision=device.precision(train.precision, trains=module.model, image_size=module.image_size),
            plugins=[AtomicCheckpointIO()],
            callbacks=[
                best,
                *early_stopping,
                log,
                RngState(),
                *([PreciseBatchNorm()] if train.precise_bn and module.has_accuracy else []),
                *callbacks,
            ],
            logger=list(loggers) or False,
            log_every_n_steps=1,  # every metric is per epoch; this only quiets "fewer batches than the interval"
            num_sanity_val_steps=0,
            enable_model_summary=False,
            enable_progress_bar=on_terminal,
            default_root_dir=ckpt_dir,
        )
        last = ckpt_dir / "last.ckpt"
        resume = last if last.exists() else None
        if resume:
            print(f"{stage}: resuming from {resume} (same params and inputs as the interrupted run)")
        trainer.fit(module, train_loader, val_loader, ckpt_path=resume, weights_only=True)
        if not trainer.is_global_zero:
            return None
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
        log.write_csv()
    # The epoch ModelCheckpoint kept: ties go to the earliest, as there.
    sign = 1 if select_mode == "min" else -1
    best_row = min(log.rows, key=lambda r: sign * r.get(select, sign * float("inf")))
    return FitResult(
        best_epoch=int(best_row["epoch"]),
        epochs_run=len(log.rows),
        history=log.rows,
        device=trainer.strategy.root_device.type,
        precision=str(trainer.precision),
    )
