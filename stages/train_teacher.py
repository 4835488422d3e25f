"""DVC stages `train_teacher@<name>`: a big network (ResNet50 / VGG16) fine-tuned on the labeled split, one
stage per entry of `teachers` in params.yaml, each trained once and shared by every distilled student."""

from pawprint import models
from pawprint.config import Params
from pawprint.paths import TEACHERS_DIR
from pawprint.stage import argument, main
from pawprint.training_stage import num_classes, supervised


@main
def run(params: Params) -> None:
    name = argument(list(params.teachers), "teacher")
    t, size = params.teachers[name], params.teacher_size(name)
    model = models.build(t.arch, num_classes(), size, weights=t.weights)
    model.freeze(t.unfreeze)
    supervised(
        f"train_teacher@{name}",
        params,
        out=TEACHERS_DIR / f"{name}.pt",
        model=model,
        arch=t.arch,
        optim=t,
        tracked=(f"teachers.{name}",),
        method="teacher",
        image_size=size,
    )


if __name__ == "__main__":
    run()
