"""DVC stage `train_teacher`: a big network (ResNet50 / VGG16) fine-tuned on the labeled split."""

from pawprint import models
from pawprint.config import Params
from pawprint.stage import main, num_classes, supervised


@main
def run(params: Params) -> None:
    t = params.teacher
    size = t.image_size or params.data.image_size
    model = models.build(t.arch, num_classes(), size, weights=t.weights)
    supervised(
        "train_teacher",
        params,
        model=model,
        arch=t.arch,
        optim=t,
        tracked=("teacher",),
        method="teacher",
        image_size=size,
    )


if __name__ == "__main__":
    run()
