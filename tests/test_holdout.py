"""`pawprint holdout`: seed experiments' checkpoints, found through their dvc.lock in the DVC cache, scored on
the images no split holds."""

import csv

import pytest

from pawprint.data.build import scan
from pawprint.data.splits import SPLITS
from pawprint.errors import PawprintError
from pawprint.tools import holdout
from tests.helpers import copy_repo, run

pytestmark = pytest.mark.slow


def test_holdout_scores_each_seeds_own_checkpoints_on_the_images_no_split_holds(reproduced, tmp_path, monkeypatch):
    repo = copy_repo(reproduced[0], tmp_path / "repo")
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    for seed in (0, 1):  # two seeds of one label, as `dvc exp run -n mine-seed<N>-<stamp>` names them
        run(["git", "update-ref", f"refs/exps/ab/cdef/mine-seed{seed}-1206-000000", head], repo)
    monkeypatch.chdir(repo)
    for extra in holdout.leftover(repo / "data/raw", repo / "data/splits")[24:]:  # 24 left over are enough
        extra.unlink()

    files = holdout.leftover(repo / "data/raw", repo / "data/splits")
    in_splits = set()
    for name in SPLITS:
        with open(repo / f"data/splits/{name}.csv", newline="") as fh:
            in_splits |= {row["path"] for row in csv.DictReader(fh)}
    names = {f.relative_to(repo / "data/raw").as_posix() for f in files}
    assert len(names) == 24 and not names & in_splits
    assert len(names) + len(in_splits) == len(scan(repo / "data/raw")[0])

    from dvc.repo import Repo

    found = holdout.checkpoints(head, holdout.SPLITS_DIR, Repo(".").cache.local.oid_to_path)
    assert set(found) >= {"baseline", "kd", "resnet50"}
    assert all(found[m].read_bytes() == (repo / "models/students" / f"{m}.pt").read_bytes() for m in ("baseline", "kd"))

    holdout.main(["mine"])
    text = (repo / "reports/holdout-mine.md").read_text()
    assert f"Accuracy on the {len(files)} images no split holds" in text
    for model in ("baseline", "kd"):
        acc = holdout.accuracy(repo / "models/students" / f"{model}.pt", files, {})
        assert f"| {model} | {acc:.3f} / {acc:.3f} (**{acc:.3f}**) |" in text

    # another split than the experiments' is refused, naming the file
    with open(repo / "data/splits/val.csv", "a") as fh:
        fh.write("0/9999.png,0,0\n")
    with pytest.raises(PawprintError, match="data/splits/val.csv is not the workspace's"):
        holdout.main(["mine"])
