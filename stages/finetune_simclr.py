"""DVC stages `finetune_simclr@student` and `finetune_simclr@ssl_teacher`: a SimCLR backbone with a fresh
head, fine-tuned on the labeled split (optionally a linear probe first, or only the last blocks). The student
becomes the SimCLR method's model; the teacher architecture becomes the self-supervised teacher that
distillation can use. dvc.yaml says which: the backbone, its settings section and the output."""

from pathlib import Path

from pawprint import config, models
from pawprint.stage import arguments, main
from pawprint.training_stage import supervised


@main
def run(params: config.Params) -> None:
    args = arguments("stage", "pretrained", "settings", "out", "method")
    tuning = config.section(params, args.settings, config.FinetuneConfig)
    pretrained = Path(args.pretrained)
    # The pretraining checkpoint's head was never trained (SimCLR trains backbone and projection only),
    # so it is the fresh head the fine-tuning starts from.
    model, meta = models.load(pretrained)
    model.freeze(tuning.unfreeze)
    supervised(
        args.stage,
        params,
        out=Path(args.out),
        model=model.train(),
        arch=meta["arch"],
        optim=tuning,
        tracked=(args.settings,),
        method=args.method,
        extra_inputs=(pretrained,),
        image_size=meta["image_size"],
        probe_epochs=tuning.probe_epochs,
    )


if __name__ == "__main__":
    run()
