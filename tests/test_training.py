import numpy as np
import pytest
import torch

from pawprint.training import resume_key


def test_resume_key_changes_with_any_param_or_input(tmp_path):
    a, b = tmp_path / "labeled.npy", tmp_path / "val.npy"
    a.write_bytes(b"labeled v1")
    b.write_bytes(b"val")
    params = {"seed": 0, "baseline.lr": 0.002}
    key = resume_key("train_baseline", params, [a, b])
    assert key == resume_key("train_baseline", dict(params), [b, a])  # order does not matter
    assert key != resume_key("train_baseline", {**params, "baseline.lr": 0.003}, [a, b])
    assert key != resume_key("train_teacher", params, [a, b])
    a.write_bytes(b"labeled v2")
    assert key != resume_key("train_baseline", params, [a, b])


def test_checkpoint_dir_is_owned_by_one_process_at_a_time(tmp_path):
    import pytest

    from pawprint.training import checkpoint_dir

    with checkpoint_dir(tmp_path, "k", resume=True) as first:
        assert first == tmp_path / "k"
        (first / "last.ckpt").parent.mkdir(parents=True, exist_ok=True)
        (first / "last.ckpt").write_bytes(b"epoch 3")
        # a second holder of the same key (the lock is per open file, as for another process) gets its own
        with checkpoint_dir(tmp_path, "k", resume=True) as second:
            assert second != first and second.parent == tmp_path
        assert not second.exists() and (first / "last.ckpt").exists()
    assert not first.exists()  # finished: removed

    with pytest.raises(RuntimeError), checkpoint_dir(tmp_path, "k", resume=True) as owned:
        owned.mkdir(exist_ok=True)
        (owned / "last.ckpt").write_bytes(b"epoch 1")
        raise RuntimeError("killed")
    assert (tmp_path / "k" / "last.ckpt").exists()  # kept for the next run to resume
    with checkpoint_dir(tmp_path, "k", resume=False) as fresh:
        assert not (fresh / "last.ckpt").exists()  # train.resume: false starts afresh


def test_linear_probe_first_trains_the_head_alone_then_everything(tmp_path):
    import numpy as np
    import pytorch_lightning as pl
    import torch

    from pawprint import models
    from pawprint.augment import SupervisedAugment
    from pawprint.config import OptimConfig
    from pawprint.data.loaders import ArrayDataset, loader
    from pawprint.training import LinearProbeFirst, Module

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.integers(0, 255, (32, 3, 36, 36), dtype=np.uint8), rng.integers(0, 2, 32))
    model = models.build("small_cnn", 2, 32)
    snapshots = []

    class Snapshot(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            snapshots.append(({k: v.clone() for k, v in model.backbone.state_dict().items()},
                              {k: v.clone() for k, v in model.head.state_dict().items()}))  # fmt: skip

    start = ({k: v.clone() for k, v in model.backbone.state_dict().items()}, None)
    module = Module(model, SupervisedAugment(32), 32, OptimConfig(epochs=3, lr=0.01))
    trainer = pl.Trainer(
        max_epochs=3, callbacks=[LinearProbeFirst(2), Snapshot()], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, loader(data, 16, train=True), loader(data, 16, train=False))

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a) and len(a) > 0

    assert same(snapshots[0][0], start[0]) and same(snapshots[1][0], start[0])  # probe: backbone fixed
    assert not same(snapshots[0][1], snapshots[1][1])  # ...while the head learns
    assert not same(snapshots[2][0], start[0])  # then the backbone trains too


def test_training_keeps_a_partial_batch_when_a_process_shard_is_smaller_than_one():
    """200 labels on 8 processes are shards of 25: with batch 64, dropping the remainder would drop them all."""
    from pawprint.data.loaders import ArrayDataset, loader

    data = ArrayDataset(np.zeros((200, 4, 4, 3), np.uint8), np.zeros(200, np.int64))
    assert loader(data, 64, train=True).drop_last
    assert not loader(data, 64, train=True, processes=8).drop_last
    assert not loader(data, 64, train=False).drop_last


def _tiny_fit(tmp_path, schedule="cosine", arch="small_cnn", precise_bn=False, **kwargs):
    import torch

    from pawprint import models
    from pawprint.augment import SupervisedAugment
    from pawprint.config import OptimConfig, TrainConfig
    from pawprint.data.loaders import ArrayDataset, loader
    from pawprint.training import Module, fit

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.integers(0, 255, (24, 3, 20, 20), dtype=np.uint8), rng.integers(0, 2, 24))
    module = Module(models.build(arch, 2, 16), SupervisedAugment(16), 16, OptimConfig(epochs=3, lr=0.01))
    result = fit(
        module, loader(data, 8, train=True), loader(data, 8, train=False), stage="train_baseline", max_epochs=3,
        train=TrainConfig(min_epochs=3, resume=False, schedule=schedule, precise_bn=precise_bn),
        plots_csv=tmp_path / "plots.csv", key="k",
        **kwargs,
    )  # fmt: skip
    return result, module


def test_the_loop_trains_with_no_logger_at_all(isolated_env, capsys):
    result, _ = _tiny_fit(isolated_env)
    assert result.epochs_run == 3 and [r["epoch"] for r in result.history] == [1, 2, 3]
    assert (isolated_env / "plots.csv").read_text().startswith("epoch,")
    assert not (isolated_env / "mlruns").exists()  # nothing reached MLflow
    # off a terminal: no progress bar, one line an epoch with its numbers
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("train_baseline: epoch")]
    assert [line.split(" in ")[0] for line in lines] == [f"train_baseline: epoch {e} of 3" for e in (1, 2, 3)]
    last = result.history[-1]
    assert (
        f"train/loss {last['train/loss']:.4g}" in lines[-1] and f"val/accuracy {last['val/accuracy']:.4g}" in lines[-1]
    )


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_the_schedule_sets_the_learning_rate_per_epoch_or_per_step(isolated_env, schedule):
    """cosine: one rate per epoch, starting at `lr`; onecycle: a new rate every step, warming up to `lr` and
    annealed far below it by the last step."""
    import pytorch_lightning as pl

    rates = []

    class Rates(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            rates.append(trainer.optimizers[0].param_groups[0]["lr"])

    result, _ = _tiny_fit(isolated_env, schedule, callbacks=(Rates(),))
    steps = len(rates) // result.epochs_run
    per_epoch = [rates[i * steps : (i + 1) * steps] for i in range(result.epochs_run)]
    if schedule == "cosine":
        assert all(len(set(epoch)) == 1 for epoch in per_epoch) and rates[0] == pytest.approx(0.01)
        assert rates[0] > rates[-1]
    else:
        assert len(set(rates)) == len(rates)  # stepped every batch
        peak = rates.index(max(rates))
        assert 0 < peak < len(rates) - 1 and max(rates) == pytest.approx(0.01, rel=0.05)
        assert rates[0] < 0.01 / 10 and rates[-1] < 0.01 / 20


def test_the_stage_logger_gets_every_epoch_with_the_epoch_as_step(isolated_env):
    from mlflow.tracking import MlflowClient

    from pawprint import tracking
    from pawprint.run_logger import StageLogger

    with tracking.stage_run("train_baseline", {"seed": 0}) as run:
        result, _ = _tiny_fit(isolated_env, loggers=[StageLogger(run)])
    client = MlflowClient(tracking.tracking_uri())
    for key in ("train/loss", "val/loss", "val/accuracy", "train/images", "time/epoch_s"):
        history = client.get_metric_history(run.run_id, key)
        assert [m.step for m in history] == [1, 2, 3], key
        assert [m.value for m in history] == [pytest.approx(r[key]) for r in result.history], key
    assert client.get_run(run.run_id).info.status == "FINISHED"
    from pawprint import device

    # what it really trained at: the small CNN in bf16 on a CPU with native bf16, else in fp32
    assert (result.device, result.precision) == ("cpu", "bf16-mixed" if device.cpu_has_bf16() else "32-true")
    assert result.wall_time_s == round(sum(r["time/epoch_s"] for r in result.history), 1) > 0


class Scripted(torch.nn.Module):
    """Val logits chosen per epoch, for images whose class is their brightness (0: black, 1: white).

    Epochs in `collapsed`: every image called class 0 at p = 0.6, a loss of 0.71, the lowest of the run.
    Other epochs: 7 of 10 images right at p = 0.55, the rest wrong: a loss of 0.90, but a model that learned.
    """

    def __init__(self, collapsed: set[int]):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(2))
        self.collapsed, self.epoch = collapsed, 0

    def forward(self, x):
        if self.training:
            return torch.zeros(len(x), 2) + self.bias
        y = (x.mean((1, 2, 3)) > 0).long()
        if self.epoch in self.collapsed:
            p = torch.tensor([0.6, 0.4]).expand(len(x), 2)
        else:
            right = torch.arange(len(x)) % 10 < 7
            p_true = torch.where(right, 0.55, 0.2)
            p = torch.stack([torch.where(y == 0, p_true, 1 - p_true), torch.where(y == 1, p_true, 1 - p_true)], 1)
        return p.log() + 0 * self.bias


def _scripted_fit(env, collapsed: set[int], train, epochs: int = 3):
    import pytorch_lightning as pl

    from pawprint.augment import SupervisedAugment
    from pawprint.config import OptimConfig
    from pawprint.data.loaders import ArrayDataset, loader
    from pawprint.training import Module, fit

    class Epoch(pl.Callback):
        def on_validation_epoch_start(self, trainer, pl_module):
            pl_module.model.epoch = trainer.current_epoch + 1

    labels = np.arange(40) % 2
    data = ArrayDataset(np.repeat(labels * 255, 3 * 20 * 20).reshape(40, 3, 20, 20).astype(np.uint8), labels)
    module = Module(Scripted(collapsed), SupervisedAugment(16), 16, OptimConfig(epochs=epochs))
    return fit(
        module, loader(data, 10, train=True), loader(data, 10, train=False), stage="train_baseline",
        max_epochs=epochs, train=train, plots_csv=env / "plots.csv", key="k", callbacks=(Epoch(),),
    )  # fmt: skip


@pytest.mark.parametrize(
    "keep, collapsed, kept", [("best", {1, 3}, 2), ("best", {1, 2, 3}, 1), ("last", {1, 3}, 2), ("last", {1, 2, 3}, 3)]
)
def test_the_kept_epoch_is_never_a_one_class_predictor_when_another_learned(isolated_env, keep, collapsed, kept):
    from pawprint.config import TrainConfig

    result = _scripted_fit(isolated_env, collapsed, TrainConfig(min_epochs=3, patience=5, resume=False, keep=keep))
    losses = [row["val/loss"] for row in result.history]
    assert losses[0] == pytest.approx(0.714, abs=1e-3) and min(losses) == losses[0]  # val/loss alone: epoch 1
    assert result.best_epoch == kept


@pytest.mark.parametrize("keep, epochs_run, kept", [("best", 2, 2), ("last", 4, 4)])
def test_keeping_the_last_epoch_runs_the_schedule_to_its_end(isolated_env, keep, epochs_run, kept):
    """Epoch 1 has the lowest val loss and every later one is worse: `best` stops once patience (1) runs out,
    after epoch 2, and keeps epoch 2 (epoch 1 predicts one class); `last` ignores early stopping and keeps the
    schedule's last epoch."""
    from pawprint.config import TrainConfig

    train = TrainConfig(min_epochs=1, patience=1, resume=False, keep=keep)
    result = _scripted_fit(isolated_env, {1}, train, epochs=4)
    assert (result.epochs_run, result.best_epoch) == (epochs_run, kept)


def test_precise_bn_averages_the_training_batches_statistics_and_keeps_frozen_layers(tmp_path):
    """Before validation the trainable batch-norm layers hold the plain average of the training batches'
    statistics (augmented, as training sees them), frozen ones keep theirs, the model is left in eval mode and
    the RNG as it was, so batch order and crops do not change."""
    import contextlib
    from types import SimpleNamespace

    from torch import nn

    from pawprint.augment import SupervisedAugment
    from pawprint.config import OptimConfig
    from pawprint.data.loaders import ArrayDataset, loader
    from pawprint.models import Classifier
    from pawprint.training import Module, PreciseBatchNorm

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.integers(0, 255, (40, 3, 12, 12), dtype=np.uint8), rng.integers(0, 2, 40))
    frozen_bn, conv, bn = nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
    backbone = nn.Sequential(frozen_bn, conv, nn.MaxPool2d(2), bn, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = Classifier(backbone, nn.Linear(4, 2), 4)
    model.freeze(1)  # the first block (frozen_bn, conv, pool) stays as it is
    frozen_bn.running_mean.fill_(0.3)
    module = Module(model, SupervisedAugment(12), 12, OptimConfig(epochs=1, lr=0.01))
    train_loader = loader(data, 16, train=True)
    trainer = SimpleNamespace(
        train_dataloader=train_loader,
        precision_plugin=SimpleNamespace(forward_context=contextlib.nullcontext),
    )
    rng_before = torch.get_rng_state()
    PreciseBatchNorm(batches=16).on_validation_epoch_start(trainer, module.eval())

    assert torch.equal(torch.get_rng_state(), rng_before)
    assert not model.training and not bn.training
    assert torch.equal(frozen_bn.running_mean, torch.full((3,), 0.3))
    means, variances = [], []
    with torch.no_grad():
        torch.set_rng_state(rng_before)  # the same shuffled order as the callback saw
        for batch in train_loader:
            h = backbone[2](conv(frozen_bn(module.training_batch(batch)[0])))
            means.append(h.mean((0, 2, 3)))
            variances.append(h.var((0, 2, 3), unbiased=True))
    assert len(means) == 2  # 40 images in batches of 16: training drops the partial batch
    torch.testing.assert_close(bn.running_mean, torch.stack(means).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack(variances).mean(0))


@pytest.mark.parametrize("precise_bn", [False, True])
def test_with_precise_bn_each_validation_uses_statistics_recomputed_for_it(isolated_env, precise_bn):
    """Through Lightning: with precise BN every epoch validates with statistics recomputed over that epoch's
    three training batches (24 images, batch 8), and the kept model holds those; without it, with running
    averages over every training step so far."""
    import pytorch_lightning as pl
    from torch.nn.modules.batchnorm import _BatchNorm

    seen = []

    class Counts(pl.Callback):
        def on_validation_epoch_end(self, trainer, pl_module):
            seen.append({int(m.num_batches_tracked) for m in pl_module.modules() if isinstance(m, _BatchNorm)})

    result, module = _tiny_fit(isolated_env, arch="mobilenet_v2", precise_bn=precise_bn, callbacks=(Counts(),))
    kept = {int(m.num_batches_tracked) for m in module.model.modules() if isinstance(m, _BatchNorm)}
    if precise_bn:
        assert seen == [{3}, {3}, {3}] and kept == {3}
    else:
        assert seen == [{3}, {6}, {9}] and kept == {3 * result.best_epoch}
