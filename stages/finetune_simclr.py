"""DVC stage `finetune_simclr`: the SimCLR backbone with a new head, fine-tuned on the labeled split."""

from pathlib import Path

from pawprint import models
from pawprint.config import Params
from pawprint.stage import main, supervised

PRETRAINED = Path("models/pretrain_simclr.pt")


@main
def run(params: Params) -> None:
    # The pretraining checkpoint's head was never trained (SimCLR trains backbone and projection only),
    # so it is the fresh head the fine-tuning starts from.
    model, meta = models.load(PRETRAINED)
    supervised(
        "finetune_simclr",
        params,
        model=model.train(),
        arch=meta["arch"],
        optim=params.finetune,
        tracked=("student", "finetune"),
        method="simclr",
        extra_inputs=(PRETRAINED,),
    )


if __name__ == "__main__":
    run()
