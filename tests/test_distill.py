"""Distillation on tiny data, both ways of getting the teacher's opinion, with a teacher at its own resolution."""

import warnings

import numpy as np
import pytest
import torch

from pawprint import export, inference, models
from pawprint.augment import SupervisedAugment
from pawprint.config import DistillConfig
from pawprint.data.loaders import ArrayDataset, loader
from pawprint.distill import CachedViews, Distill, Teachers, cache_views


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (24, 3, 52, 52), dtype=np.uint8)
    labels = np.array([0, 1, -1, -1] * 6)
    return ArrayDataset(images, labels)


def test_cached_views_hold_student_sized_views_and_teacher_logits(data):
    torch.manual_seed(0)
    teacher = Teachers([(models.build("small_cnn", 2, 48), 48, 1.0)])
    cached = cache_views(teacher, data, SupervisedAugment(48), student_size=32, k=3)
    assert cached.views.shape == (24, 3, 3, 32, 32) and cached.views.dtype == torch.uint8
    assert cached.logits.shape == (24, 3, 2)
    assert not torch.equal(cached.views[:, 0], cached.views[:, 1])  # K different views
    views, labels, logits = cached.__getitems__([0, 5, 7])
    assert views.shape == (3, 3, 32, 32) and labels.tolist() == [0, 1, -1] and logits.shape == (3, 2)


@pytest.mark.parametrize("cached", [False, True])
def test_a_training_step_moves_the_student_towards_the_teacher(data, cached):
    torch.manual_seed(0)
    teacher = Teachers([(models.build("small_cnn", 2, 48), 48, 1.0)])
    student = models.build("small_cnn", 2, 32)
    cfg = DistillConfig(temperature=2.0, alpha=0.5, lr=0.01)
    augment = SupervisedAugment(48)
    if cached:
        dataset = cache_views(teacher, data, augment, student_size=32, k=2)
        module = Distill(student, augment, 32, cfg)
    else:
        dataset = data
        module = Distill(student, augment, 32, cfg, teacher=teacher)

    class Trainer:  # the two attributes the hooks read
        training = True

    module._trainer = Trainer()
    batch = next(iter(loader(dataset, 24, train=False)))
    x, y, side = module.on_after_batch_transfer(batch, 0)
    assert x.shape == (24, 3, 32, 32)
    assert side.shape == ((24, 2) if cached else (24, 3, 48, 48))
    opt = torch.optim.SGD(student.parameters(), lr=0.05)
    first = None
    for _ in range(15):
        loss, logits, labels = module.training_loss((x, y, side))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first and labels.tolist() == y.tolist()
    assert isinstance(dataset, CachedViews) == cached


def test_an_ensemble_averages_its_teachers_logits_with_weights_each_at_its_size():
    torch.manual_seed(0)
    a, b = models.build("small_cnn", 2, 48).eval(), models.build("small_cnn", 2, 32).eval()
    teachers = Teachers([(a, 48, 3.0), (b, 32, 1.0)], precision="32")  # compared with fp32 below
    assert teachers.image_size == 48
    view = torch.rand(5, 3, 48, 48)
    from pawprint.augment import model_input

    expected = 0.75 * a(model_input(view, 48)) + 0.25 * b(model_input(view, 32))
    assert torch.allclose(teachers(view), expected, atol=1e-5)
    teachers.train()
    assert not any(m.training for m in teachers.modules())
    assert not any(p.requires_grad for p in teachers.parameters())


@pytest.mark.parametrize("cached", [False, True])
def test_a_distillation_trains_to_the_end_and_keeps_its_best_epoch(data, cached, isolated_env):
    """Through the real `training.fit`: it trains, then loads the best epoch's checkpoint, which leaves the
    frozen teachers out (teachers on the fly once failed right there, after every epoch had run)."""
    from pawprint.config import TrainConfig
    from pawprint.training import fit

    torch.manual_seed(0)
    teacher = Teachers([(models.build("small_cnn", 2, 48), 48, 1.0)])
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    augment, cfg = SupervisedAugment(48), DistillConfig(lr=0.01)
    if cached:
        train_set, module = (
            cache_views(teacher, data, augment, 32, k=2),
            Distill(models.build("small_cnn", 2, 32), augment, 32, cfg),
        )
    else:
        train_set, module = data, Distill(models.build("small_cnn", 2, 32), augment, 32, cfg, teacher=teacher)
    mask = (data.labels >= 0).numpy()
    labeled = ArrayDataset(data.images[mask], data.labels.numpy()[mask])
    result = fit(
        module, loader(train_set, 8, train=True), loader(labeled, 8, train=False), stage="distill", max_epochs=3,
        train=TrainConfig(min_epochs=3, resume=False), plots_csv=isolated_env / "plots.csv", key="k",
    )  # fmt: skip
    assert result.epochs_run == 3 and 1 <= result.best_epoch <= 3
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())  # frozen, and left as it was
    student_only = {k: v for k, v in module.state_dict().items() if not k.startswith("teacher.")}
    assert module.load_state_dict(student_only).unexpected_keys == []
    del student_only[next(k for k in student_only if k.startswith("model."))]
    with pytest.raises(RuntimeError, match="missing"):  # leaving out the teachers is allowed, nothing else
        module.load_state_dict(student_only)


def test_the_read_only_cache_is_read_without_warnings(data, tmp_path):
    """Splits are memory-mapped read-only (cache.load); torch warns on every batch of such an array."""
    np.save(tmp_path / "pool.npy", data.images)
    pool = ArrayDataset(np.load(tmp_path / "pool.npy", mmap_mode="r"), data.labels.numpy())
    teacher = Teachers([(models.build("small_cnn", 2, 48), 48, 1.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache_views(teacher, pool, SupervisedAugment(48), student_size=32, k=1)
        inference.logits(models.build("small_cnn", 2, 32), pool.images, 32)
        image, _ = pool[0]
        batch, _ = pool.__getitems__([1, 0])
        example = export.example_input(pool.images[:2], 32)
    assert torch.equal(batch[1], image) and torch.equal(image, torch.as_tensor(data.images[0]))
    assert example.shape == (2, 3, 32, 32)
