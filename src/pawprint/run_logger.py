"""A stage's MLflow run as a Lightning logger, so the training loop logs through Lightning's interface alone.

`training.fit` takes loggers like any Lightning Trainer and never imports MLflow; the training stages open
the run (`tracking.stage_run`, which logs the params and sets the final status: FINISHED, FAILED, or KILLED
by the next run of the stage) and pass this logger in. A test or a notebook can train with none.

MLflow's step is the epoch, counted from 1 as in the plots CSVs, not Lightning's optimiser step: the curves of
a run and of its resumed continuation then line up, whatever the batch size.
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only

from pawprint.tracking import StageRun


class StageLogger(Logger):
    def __init__(self, run: StageRun):
        super().__init__()
        self.run = run

    @property
    def name(self) -> str:
        return "mlflow"

    @property
    def version(self) -> str:
        return self.run.run_id

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The stage's params are already on the run (`tracking.stage_run`), under the names of params.yaml."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)  # Lightning's own calls carry the 0-based epoch
        self.run.log_metrics(metrics, step=step if epoch is None else int(epoch) + 1)
