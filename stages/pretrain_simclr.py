"""DVC stages `pretrain_simclr@student` and `pretrain_simclr@ssl_teacher`: SimCLR on the unlabeled pool, from
scratch, of the student's backbone (method 3) or of the teacher architecture (method 7, a self-supervised
teacher for when no ImageNet weights exist)."""

import dataclasses

from pawprint import models
from pawprint.config import SSL_TEACHER, Params
from pawprint.data import cache, loaders
from pawprint.paths import PRETRAINED_DIR, SPLITS_DIR, split_files
from pawprint.ssl import KnnProbe, SimCLR
from pawprint.stage import argument, main, select
from pawprint.training_stage import train_and_save


@main
def run(params: Params) -> None:
    network = argument(["student", SSL_TEACHER], "network")
    pool, val = cache.load(SPLITS_DIR, "unlabeled"), cache.load(SPLITS_DIR, "val")
    labeled = cache.load(SPLITS_DIR, "labeled")  # the kNN probe's memory bank: watched, never trained on
    knn = KnnProbe(labeled.images, labeled.labels, val.images, val.labels, len(labeled.classes))
    if network == "student":
        arch, size, cfg = params.student.arch, params.data.image_size, params.simclr
    else:
        t = params.ssl_teacher
        arch, size = t.arch, params.teacher_size(SSL_TEACHER)
        cfg = dataclasses.replace(params.simclr, epochs=t.pretrain_epochs, lr=t.pretrain_lr)
    model = models.build(arch, len(pool.classes), size)
    train_and_save(
        f"pretrain_simclr@{network}",
        params,
        out=PRETRAINED_DIR / f"{network}.pt",
        module=SimCLR(model, cfg, size, knn),
        train_set=loaders.unlabeled(pool),
        val_set=loaders.unlabeled(val),
        max_epochs=cfg.epochs,
        tracked=select(params, "seed", "train", "simclr", "unlabeled_size", "data.image_size", network),
        inputs=split_files("unlabeled", "val", "labeled"),
        method="simclr" if network == "student" else SSL_TEACHER,
        save=lambda path: models.save(
            model, path, arch=arch, classes=pool.classes, image_size=size, cache_size=params.data.cache_size
        ),
    )


if __name__ == "__main__":
    run()
