"""DVC stages `distill@<run>` (one per entry of `distill_runs`: one teacher or an ensemble, the student from
scratch) and `distill_hybrid` (the SimCLR-pretrained student distilled: SimCLR init + KD). The student learns
from the teachers' soft labels over the unlabeled pool plus the labeled split. dvc.yaml says which: the
section of params.yaml naming the teachers, the output, and for the hybrid the checkpoint to start from."""

from pathlib import Path

from pawprint import config, models
from pawprint.augment import SupervisedAugment
from pawprint.data import cache, loaders
from pawprint.distill import Distill, Teachers, cache_views
from pawprint.paths import SPLITS_DIR, TEACHERS_DIR, split_files
from pawprint.stage import arguments, main, select
from pawprint.training_stage import train_and_save


@main
def run(params: config.Params) -> None:
    args = arguments("stage", "teachers", "out", "method", init=None)
    kd = config.section(params, args.teachers, config.KDRun)
    labeled, val = cache.load(SPLITS_DIR, "labeled"), cache.load(SPLITS_DIR, "val")
    pool = cache.load(SPLITS_DIR, "unlabeled")
    teacher_files = {TEACHERS_DIR / f"{t}.pt": w for t, w in kd.teachers.items()}
    teachers = Teachers.load(teacher_files, params.train.precision)
    size, arch, k = params.data.image_size, params.student.arch, params.distill.teacher_cache_views
    init = [Path(args.init)] if args.init else []
    # SimCLR's checkpoint has an untrained head, as fine-tuning starts from; KD trains all of it.
    student = models.load(init[0])[0].train() if init else models.build(arch, len(labeled.classes), size)
    augment = SupervisedAugment.of(params.distill_augment, max(size, teachers.image_size))
    train_set = loaders.concat(loaders.labeled(labeled), loaders.unlabeled(pool))
    if k:
        train_set = cache_views(teachers, train_set, augment, size, k)
    train_and_save(
        args.stage,
        params,
        out=Path(args.out),
        module=Distill(student, augment, size, params.distill, teacher=None if k else teachers),
        train_set=train_set,
        val_set=loaders.labeled(val),
        max_epochs=params.distill.epochs,
        tracked=select(
            params, "seed", "train", "augment", "student", "distill", args.teachers, "unlabeled_size", "data.image_size"
        ),  # fmt: skip
        inputs=[*split_files("labeled", "val", "unlabeled"), *teacher_files, *init],
        method=args.method,
        save=lambda path: models.save(
            student, path, arch=arch, classes=labeled.classes, image_size=size, cache_size=params.data.cache_size
        ),
    )


if __name__ == "__main__":
    run()
