"""DVC stage `prepare`: materialise the chosen data source as `data/raw/<class>/<file>`, and its own test
images, if it has them, as `data/raw_test/<class>/<file>` (an empty folder otherwise)."""

from pathlib import Path

from pawprint.config import Params
from pawprint.data.sources import prepare
from pawprint.paths import atomic_path
from pawprint.stage import main, select
from pawprint.tracking import stage_run


@main
def run(params: Params) -> None:
    tracked = select(params, "data.source", "data.folder", "data.test_folder", "data.kaggle_slug")
    with (
        stage_run("prepare", tracked),
        atomic_path(Path("data/raw")) as tmp,
        atomic_path(Path("data/raw_test")) as test,
    ):
        tmp.mkdir()
        test.mkdir()
        prepare(params.data, tmp, test)
    print(f"prepared {params.data.source} in data/raw")


if __name__ == "__main__":
    run()
