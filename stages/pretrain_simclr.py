"""DVC stage `pretrain_simclr`: SimCLR on the unlabeled pool, the student's backbone from scratch."""

from pawprint import models
from pawprint.config import Params
from pawprint.data import cache, loaders
from pawprint.ssl import SimCLR
from pawprint.stage import SPLITS_DIR, main, select, split_files, train_and_save

NAME = "pretrain_simclr"


@main
def run(params: Params) -> None:
    pool, val = cache.load(SPLITS_DIR, "unlabeled"), cache.load(SPLITS_DIR, "val")
    size, arch = params.data.image_size, params.student.arch
    model = models.build(arch, len(pool.classes), size)
    train_and_save(
        NAME,
        params,
        module=SimCLR(model, params.simclr, size),
        train_set=loaders.unlabeled(pool),
        val_set=loaders.unlabeled(val),
        max_epochs=params.simclr.epochs,
        tracked=select(params, "seed", "train", "student", "simclr", "unlabeled_size", "data.image_size"),
        inputs=split_files("unlabeled", "val"),
        method="simclr",
        save=lambda path: models.save(model, path, arch=arch, classes=pool.classes, image_size=size),
    )


if __name__ == "__main__":
    run()
