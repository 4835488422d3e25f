"""DVC stage `distill`: the student from scratch learns from the teacher over unlabeled + labeled images."""

from pathlib import Path

from pawprint import models
from pawprint.augment import SupervisedAugment
from pawprint.config import Params
from pawprint.data import cache, loaders
from pawprint.distill import Distill, cache_views
from pawprint.stage import SPLITS_DIR, main, select, split_files, train_and_save

TEACHER = Path("models/train_teacher.pt")


@main
def run(params: Params) -> None:
    labeled, val = cache.load(SPLITS_DIR, "labeled"), cache.load(SPLITS_DIR, "val")
    pool = cache.load(SPLITS_DIR, "unlabeled")
    teacher, meta = models.load(TEACHER)
    size, arch, k = params.data.image_size, params.student.arch, params.distill.teacher_cache_views
    teacher_size = meta["image_size"]
    student = models.build(arch, len(labeled.classes), size)
    augment = SupervisedAugment(max(size, teacher_size), params.augment.min_scale, params.augment.hflip)
    train_set = loaders.concat(loaders.labeled(labeled), loaders.unlabeled(pool))
    if k:
        train_set = cache_views(teacher, teacher_size, train_set, augment, size, k)
    module = Distill(student, augment, size, params.distill, teacher=None if k else teacher, teacher_size=teacher_size)
    train_and_save(
        "distill",
        params,
        module=module,
        train_set=train_set,
        val_set=loaders.labeled(val),
        max_epochs=params.distill.epochs,
        tracked=select(params, "seed", "train", "augment", "student", "distill", "unlabeled_size", "data.image_size"),
        inputs=[*split_files("labeled", "val", "unlabeled"), TEACHER],
        method="distill",
        save=lambda path: models.save(student, path, arch=arch, classes=labeled.classes, image_size=size),
    )


if __name__ == "__main__":
    run()
