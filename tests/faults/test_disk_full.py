"""The disk running out mid-write: a clear one-line error, and the previous outputs untouched.

The write fails at the boundary (the call that writes the bytes raises ENOSPC), which is what a full disk
does; a real small filesystem would need mount rights that CI does not have.
"""

import errno

import numpy as np
import pytest
import torch

from pawprint import models
from pawprint.data import build
from pawprint.data.splits import SplitSizes
from pawprint.errors import PawprintError


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def raw(tmp_path):
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / "raw" / label).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (20, 20), (i * 20, 0, 0)).save(tmp_path / "raw" / label / f"{i}.png")
    return tmp_path / "raw"


def test_full_disk_while_writing_the_cache_keeps_the_previous_splits(tmp_path, raw, monkeypatch):
    sizes = SplitSizes(test=4, val=4, labeled=4, unlabeled=4)
    out = tmp_path / "splits"
    build.build(raw, out, tmp_path / "skipped.csv", sizes, cache_size=16, seed=0)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    writes = []
    real_save = np.save

    def save_then_fill(fh, array):
        writes.append(1)
        if len(writes) > 1:
            no_space()
        real_save(fh, array)

    monkeypatch.setattr(np, "save", save_then_fill)
    with pytest.raises(PawprintError) as info:
        build.build(raw, out, tmp_path / "skipped.csv", SplitSizes(6, 6, 6, 0), cache_size=20, seed=1)
    assert str(info.value).startswith("no space left on the device while writing")
    assert "\n" not in str(info.value)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # every split file as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw", "skipped.csv", "splits"]  # no temporary left


def test_full_disk_while_writing_a_checkpoint_keeps_the_previous_model(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    models.save(
        models.build("small_cnn", 2, 32), path, arch="small_cnn", classes=["a", "b"], image_size=32, cache_size=36
    )
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(PawprintError, match="no space left .*model.pt.*previous output is intact"):
        models.save(
            models.build("small_cnn", 2, 32), path, arch="small_cnn", classes=["a", "b"], image_size=32, cache_size=36
        )
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
