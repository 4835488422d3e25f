"""`pawprint predict` on a real checkpoint: files, folders, broken files, CSV, top-k and exit codes. (The
MLflow model URI and agreement with `evaluate` are checked on a reproduced pipeline in test_deploy.py.)"""

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from pawprint import cli, inference, models, predict
from pawprint.data.images import load_rgb, square
from pawprint.errors import PawprintError
from tests.helpers import SHARED

CLASSES = ["cat", "dog", "fox"]


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "m.pt"
    models.save(models.build("small_cnn", 3, 32), path, arch="small_cnn", classes=CLASSES, image_size=32, cache_size=40)
    return path


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, size in (("a.png", (50, 70)), ("sub/b.jpg", (90, 60))):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / name)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_folder_gives_one_line_per_file_and_errors_for_broken_ones(checkpoint, photos, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--model", str(checkpoint), str(photos), "--top-k", "2", "--csv", str(tmp_path / "o.csv")])
    assert exit_.value.code == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(photos / "a.png"), str(photos / "sub" / "b.jpg")]
    for line in lines:
        (c1, p1), (c2, p2) = (cell.split() for cell in line.split("\t")[1:])
        assert {c1, c2} <= set(CLASSES) and c1 != c2 and 1 >= float(p1) >= float(p2) >= 0
    assert f"{photos / 'empty.jpg'}\terror: empty file" in err
    assert f"{photos / 'notes.txt'}\terror: not an image file name" in err
    assert "classified 2 of 4 files" in err
    rows = list(csv.DictReader(open(tmp_path / "o.csv")))
    assert [r["path"] for r in rows] == [str(photos / n) for n in ("a.png", "empty.jpg", "notes.txt", "sub/b.jpg")]
    assert rows[0]["class_1"] == lines[0].split("\t")[1].split()[0] and rows[1]["error"] == "empty file"


def test_probabilities_are_the_evaluation_path_on_the_same_decoding(checkpoint, photos):
    """A photo is decoded as the cache decodes it and scored by `inference.logits`, the evaluate stage's path."""
    predictor = predict.load(str(checkpoint))
    [result] = predict.predict(predictor, [photos / "a.png"], top_k=3)
    cached = square(load_rgb(photos / "a.png", 40), 40)[None]
    expected = inference.logits(models.load(checkpoint)[0], cached, 32).softmax(1)[0]
    assert [cls for cls, _ in result.top] == [CLASSES[i] for i in expected.argsort(descending=True)]
    assert [p for _, p in result.top] == pytest.approx(sorted(expected.tolist(), reverse=True), abs=1e-6)


def test_nothing_classified_exits_nonzero(checkpoint, photos, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--model", str(checkpoint), str(photos / "empty.jpg"), str(photos / "notes.txt")])
    assert exit_.value.code == 1
    assert "classified 0 of 2 files" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "path", "message"),
    [
        ("kd", "photos", "--model 'kd': no such model, checkpoint or MLflow URI; trained models here: none"),
        ("CKPT", "missing.jpg", "missing.jpg: no such file or folder"),
        ("runs:/0123456789abcdef/model", "photos", "--model runs:/0123456789abcdef/model: cannot load"),
    ],
)
def test_bad_model_or_path_is_one_line(model, path, message, checkpoint, photos, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--model", model.replace("CKPT", str(checkpoint)), str(tmp_path / path)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_top_k_must_be_positive(checkpoint, photos):
    with pytest.raises(PawprintError, match="--top-k 0: must be at least 1"):
        predict.run(str(checkpoint), [str(photos)], top_k=0)


@pytest.mark.skipif(not (SHARED / "petimages-4k").exists(), reason="needs ../shared/datasets/petimages-4k")
def test_real_kaggle_folder_with_its_broken_files(checkpoint, capsys):
    cats = SHARED / "petimages-4k" / "PetImages" / "Cat"
    photos = [p for p in sorted(cats.glob("*.jpg")) if p.name != "666.jpg"][:5]
    files = [cats / "666.jpg", cats / "Thumbs.db", *photos]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--model", str(checkpoint), *map(str, files)])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0 and len(out.splitlines()) == 5
    assert "666.jpg\terror: empty file" in err and "Thumbs.db\terror: not an image file name" in err
