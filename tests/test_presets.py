"""`pawprint study NAME`: each preset of studies/ is valid params, and one runs end to end as DVC experiments."""

import csv
import io
import os
import sys
from pathlib import Path

import pytest
import yaml

from pawprint.errors import PawprintError
from pawprint.tools import presets
from tests.helpers import ROOT, make_pipeline_repo, pipeline_env, ran, run

FIXTURES = ROOT / "tests" / "fixtures" / "PetImages"
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())
FOLDER = {"data.folder": "path/to/PetImages"}  # the one value a user must give (petimages)


@pytest.mark.parametrize("name", presets.available())
def test_every_preset_resolves_to_valid_params(name):
    preset = presets.load(name)
    assert preset.description and preset.overrides
    points = preset.points(FOLDER if name == "petimages" else {})
    for point in points:
        params = presets.resolve(BASE, point)
        assert params.data.source == preset.overrides["data.source"]
    if preset.needs:
        assert preset.offline, f"{name} needs the network: it must name the offline alternative"


@pytest.mark.parametrize("name", [n for n in presets.available() if presets.load(n).needs])
def test_every_offline_alternative_resolves_to_valid_params(name):
    """The offline line is what a user without the network copies: its settings must make a valid run, with
    nothing left that only made sense with the download (frozen blocks need pretrained weights)."""
    words = presets.load(name).offline.split()
    study = words[words.index("study") + 1] if "study" in words else name
    sets = presets.parse_sets([words[i + 1] for i, word in enumerate(words) if word == "--set"])
    assert sets, f"{name}: its offline line sets nothing"
    for point in presets.load(study).points(sets):
        presets.resolve(BASE, point)


def test_the_seeds_settings_are_in_their_presets():
    cats = presets.load("cats-vs-dogs")
    points = cats.points({})
    assert [p["unlabeled_size"] for p in points] == [10000, 6000, 3000]
    params = presets.resolve(BASE, points[0])
    assert (params.data.labeled_size, params.data.val_size, params.data.test_size) == (420, 180, 5000)
    assert params.student.arch == "mobilenet_v2" and params.teachers["resnet50"].weights == "imagenet"
    cifar = presets.resolve(BASE, presets.load("cifar10").points({})[0])
    assert cifar.student.arch == "small_cnn" and cifar.train.batch_size == 64 and cifar.train.patience == 3
    assert {t.arch: (t.weights, t.unfreeze) for t in cifar.teachers.values()} == {
        "resnet50": ("imagenet", 2), "vgg16": ("imagenet", 2)
    }  # fmt: skip
    assert (cifar.distill.temperature, cifar.distill.alpha) == (3.0, 0.5)
    assert max(cifar.baseline.epochs, cifar.distill.epochs, cifar.teachers["vgg16"].epochs) == 20
    four = presets.resolve(BASE, presets.load("cifar10-4k").points({})[0])
    assert (four.data.labeled_size, four.unlabeled_size) == (4000, 45000)


def test_the_report_sets_the_published_numbers_beside_ours(monkeypatch):
    from pawprint import reports

    monkeypatch.chdir(ROOT)
    published = reports.published_accuracy("cats-vs-dogs")
    assert published["resnet50"] == 0.98 and published["kd"] == {10000: 0.92, 6000: 0.84, 3000: 0.75}
    assert reports.published_accuracy("") == {}
    run = {"kind": "student", "method": "KD", "unlabeled_size": 6000, "collapsed": None,
           "training": {"best_epoch": 3, "epochs": 5, "wall_time_s": 10.0},
           "test": {"accuracy": 0.9, "macro_precision": 0.9, "macro_recall": 0.9, "macro_f1": 0.9}}  # fmt: skip
    header, rows = reports.comparison({"kd": run, "hybrid": run}, published)
    assert header[3:5] == ["accuracy %", "published %"]
    assert rows[0][3:5] == ["90.0", "84.0"] and rows[1][3:5] == ["90.0", "-"]
    assert "published %" not in reports.comparison({"kd": run})[0]  # a run of no study: no column


def test_set_replaces_a_grid_and_a_bad_key_or_value_stops_before_running():
    cats = presets.load("cats-vs-dogs")
    assert cats.points(presets.parse_sets(["unlabeled_size=50"])) == [
        {"study": "cats-vs-dogs", **cats.overrides, "unlabeled_size": 50}
    ]
    with pytest.raises(PawprintError, match="data.folderr is not a key of params.yaml"):
        presets.resolve(BASE, {"data.folderr": "x"})
    with pytest.raises(PawprintError, match="distill.alpha = 2.0: must be between 0 and 1"):
        presets.resolve(BASE, {"distill.alpha": 2})
    with pytest.raises(PawprintError, match="expected KEY=VALUE"):
        presets.parse_sets(["data.folder"])
    with pytest.raises(PawprintError, match="no study 'nope'; known: cats-vs-dogs, cifar10"):
        presets.load("nope")


def test_set_adds_a_key_with_a_plus_as_dvc_exp_run_does():
    params = presets.resolve(BASE, {"+distill_runs.kd_vgg16.teachers.vgg16": 1.0})
    assert params.distill_runs["kd_vgg16"].teachers == {"vgg16": 1.0} and "kd" in params.distill_runs
    assert presets.resolve(BASE, {"++distill.alpha": 0.25}).distill.alpha == 0.25  # ++: set or add
    pets = presets.resolve(BASE, presets.load("petimages").points(FOLDER)[0])
    assert pets.distill_runs["kd_vgg16"].teachers == {"vgg16": 1.0}  # the preset's own `+` key
    with pytest.raises(PawprintError, match=r"distill.alpha is already a key .*`distill.alpha` sets it"):
        presets.resolve(BASE, {"+distill.alpha": 0.25})
    with pytest.raises(PawprintError, match=r"distill_runs.kd_vgg16 is not a key .*`\+distill_runs.kd_vgg16"):
        presets.resolve(BASE, {"distill_runs.kd_vgg16": {"teachers": {"vgg16": 1.0}}})
    with pytest.raises(PawprintError, match="kd_vgg19.teachers.vgg19: no such teacher"):
        presets.resolve(BASE, {"+distill_runs.kd_vgg19.teachers.vgg19": 1.0})


@pytest.mark.slow
def test_a_study_runs_as_dvc_experiments_on_tiny_data(tmp_path):
    repo = make_pipeline_repo(tmp_path / "repo", lean=True)
    env = pipeline_env(repo)
    # The preset tunes the VGG16 teacher, so the tiny params need one, and 32 px for it (never trained: the
    # run stops at the baseline).
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["teachers"]["vgg16"] = BASE["teachers"]["vgg16"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "-qam", "a VGG16 teacher"], repo)
    tiny = [f"data.folder={FIXTURES}", "data.test_size=4", "data.val_size=2", "data.labeled_size=4",
            "unlabeled_size=5", "data.image_size=32", "data.cache_size=36"]  # fmt: skip
    sets = [arg for item in tiny for arg in ("--set", item)]
    listed = run(["pawprint", "study", "petimages", "--seeds", "3", "--check", *sets], repo, env).stdout
    assert [line.split(":")[0] for line in listed.splitlines()[1:]] == ["run 1 of 3", "run 2 of 3", "run 3 of 3"]
    assert "petimages-seed2-" in listed and f"-S data.folder={FIXTURES}" in listed
    # Up to the baseline: the split of the broken-file folder and a model trained on it, in three stage
    # processes; every other stage runs end to end in tests/test_pipeline.py. Called as `.venv/bin/pawprint`
    # without the environment on PATH: DVC and the stages' `python` must still be the environment's.
    bin_dir = Path(sys.executable).parent
    bare = {**env, "PATH": os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != bin_dir)}
    out = run([str(bin_dir / "pawprint"), "study", "petimages", "--target", "train_baseline", *sets], repo, bare).stdout
    assert ran(out) == {"prepare", "split", "train_baseline"}
    rows = list(csv.DictReader(io.StringIO(run(["dvc", "exp", "show", "--csv"], repo, env).stdout)))
    [row] = [r for r in rows if r["Experiment"].startswith("petimages-seed0-")]
    assert row["data.source"] == "folder" and row["data.labeled_size"] == "4" and row["augment.hflip"] == "True"
    assert 0 <= float(row["val/accuracy"]) <= 1
