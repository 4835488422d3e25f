"""DVC stages `finetune_simclr@student` and `finetune_simclr@ssl_teacher`: a SimCLR backbone with a fresh
head, fine-tuned on the labeled split (optionally a linear probe first). The student becomes the SimCLR
method's model; the teacher architecture becomes the self-supervised teacher that distillation can use."""

from pawprint import models
from pawprint.config import SSL_TEACHER, Params
from pawprint.stage import PRETRAINED_DIR, STUDENTS_DIR, TEACHERS_DIR, argument, main, supervised


@main
def run(params: Params) -> None:
    network = argument(["student", SSL_TEACHER], "network")
    pretrained = PRETRAINED_DIR / f"{network}.pt"
    # The pretraining checkpoint's head was never trained (SimCLR trains backbone and projection only),
    # so it is the fresh head the fine-tuning starts from.
    model, meta = models.load(pretrained)
    if network == "student":
        out, optim, tracked, probe = STUDENTS_DIR / "simclr.pt", params.finetune, ("student", "finetune"), True
    else:
        out, optim, tracked, probe = TEACHERS_DIR / f"{SSL_TEACHER}.pt", params.ssl_teacher, (SSL_TEACHER,), False
        model.freeze(params.ssl_teacher.unfreeze)
    supervised(
        f"finetune_simclr@{network}",
        params,
        out=out,
        model=model.train(),
        arch=meta["arch"],
        optim=optim,
        tracked=tracked,
        method="simclr" if network == "student" else SSL_TEACHER,
        extra_inputs=(pretrained,),
        image_size=meta["image_size"],
        probe_epochs=params.finetune.probe_epochs if probe else 0,
    )


if __name__ == "__main__":
    run()
