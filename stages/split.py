"""DVC stage `split`: decode every image once, drop broken files, write balanced splits as uint8 arrays."""

from pathlib import Path

from pawprint.config import Params
from pawprint.data.build import build
from pawprint.data.splits import SplitSizes
from pawprint.paths import SPLITS_DIR
from pawprint.stage import main, select
from pawprint.tracking import stage_run


@main
def run(params: Params) -> None:
    d = params.data
    sizes = SplitSizes(test=d.test_size, val=d.val_size, labeled=d.labeled_size, unlabeled=params.unlabeled_size)
    tracked = select(params, "unlabeled_size", "data")
    with stage_run("split", tracked) as mlrun:
        counts = build(
            Path("data/raw"), SPLITS_DIR, Path("data/reports/skipped.csv"), sizes, d.cache_size, d.split_seed,
            test_raw=Path("data/raw_test"),
        )  # fmt: skip
        mlrun.log_metrics({"data/kept": counts["kept"], "data/skipped": counts["skipped"]})
        mlrun.log_artifact(Path("data/reports/skipped.csv"), "data")
    print(f"kept {counts['kept']}, skipped {counts['skipped']} (see data/reports/skipped.csv)")


if __name__ == "__main__":
    run()
