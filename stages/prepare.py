"""DVC stage `prepare`: materialise the chosen data source as `data/raw/<class>/<file>`."""

from pathlib import Path

from pawprint.config import Params
from pawprint.data.sources import prepare
from pawprint.paths import atomic_path
from pawprint.stage import main, select
from pawprint.tracking import stage_run


@main
def run(params: Params) -> None:
    with (
        stage_run("prepare", select(params, "data.source", "data.folder", "data.kaggle_slug")),
        atomic_path(Path("data/raw")) as tmp,
    ):
        tmp.mkdir()
        prepare(params.data, tmp)
    print(f"prepared {params.data.source} in data/raw")


if __name__ == "__main__":
    run()
