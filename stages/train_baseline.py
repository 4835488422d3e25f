"""DVC stage `train_baseline`: the student from scratch on the labeled split only, the yardstick."""

from pawprint import models
from pawprint.config import Params
from pawprint.paths import STUDENTS_DIR
from pawprint.stage import main
from pawprint.training_stage import num_classes, supervised


@main
def run(params: Params) -> None:
    arch = params.student.arch
    supervised(
        "train_baseline",
        params,
        out=STUDENTS_DIR / "baseline.pt",
        model=models.build(arch, num_classes(), params.data.image_size),
        arch=arch,
        optim=params.baseline,
        tracked=("student", "baseline"),
        method="baseline",
    )


if __name__ == "__main__":
    run()
