"""Data sources: the real photo folder with its broken files, Kaggle against a fake client, CIFAR-10 over a
local HTTP server, and hostile archives."""

import csv
import functools
import hashlib
import http.server
import importlib
import io
import pickle
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pawprint.config import DataConfig
from pawprint.data import archives, build, cache, kaggle, sources
from pawprint.data.images import UnusableImage, load_rgb
from pawprint.data.splits import SplitSizes
from pawprint.errors import PawprintError

PETIMAGES = Path(__file__).parent / "fixtures" / "PetImages"


def write_jpeg(path: Path, size=(40, 30), mode="RGB", fmt="JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    channels = {"RGB": 3, "CMYK": 4, "L": 1}[mode]
    arr = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8).squeeze()
    Image.fromarray(arr, mode=mode).save(path, format=fmt)
    return path


def test_petimages_folder_keeps_the_usable_and_lists_exactly_the_broken(tmp_path):
    """tests/fixtures/PetImages: the PetImages layout with each kind of file the real download holds."""
    raw = tmp_path / "raw"
    sources.prepare(DataConfig(source="folder", folder=str(PETIMAGES)), raw, tmp_path / "raw_test")
    files = {p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()}
    sizes = SplitSizes(test=4, val=2, labeled=4, unlabeled=5)  # every usable file lands in a split
    counts = build.build(raw, tmp_path / "splits", tmp_path / "skipped.csv", sizes, cache_size=40, seed=0)
    with open(tmp_path / "skipped.csv") as fh:
        skipped = {row["path"]: row["reason"] for row in csv.DictReader(fh)}
    assert skipped == {
        "Cat/666.jpg": "empty file",
        "Cat/Thumbs.db": "not an image file name",
        "Dog/notes.txt": "not an image file name",
        "Dog/11702.jpg": skipped["Dog/11702.jpg"],
    }
    assert skipped["Dog/11702.jpg"].startswith("corrupt image")
    assert counts == {"kept": len(files) - 4, "skipped": 4}
    kept = {
        row["path"]
        for name in ("test", "val", "labeled", "unlabeled")
        for row in csv.DictReader(open(tmp_path / "splits" / f"{name}.csv"))
    }
    assert kept == files - set(skipped)  # grayscale, CMYK and PNG-named-.jpg are converted and kept
    assert {"Cat/10125.jpg", "Cat/10501.jpg", "Dog/10158.jpg"} <= kept
    labeled = cache.load(tmp_path / "splits", "labeled")
    assert labeled.images.shape == (4, 3, 40, 40) and labeled.images.dtype == np.uint8
    assert labeled.classes == ["Cat", "Dog"]


def test_each_kind_of_odd_file(tmp_path):
    assert load_rgb(write_jpeg(tmp_path / "gray.jpg", mode="L")).mode == "RGB"
    assert load_rgb(write_jpeg(tmp_path / "cmyk.jpg", mode="CMYK")).mode == "RGB"
    assert load_rgb(write_jpeg(tmp_path / "png_named.jpg", fmt="PNG")).size == (40, 30)
    big = write_jpeg(tmp_path / "big.jpg", size=(1600, 1200))
    assert load_rgb(big, size=100).size[1] >= 200  # decoded at a reduced scale, still at least 2x the cache
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "Thumbs.db").write_bytes(b"\0" * 64)
    (tmp_path / "text.jpg").write_text("not an image")
    good = (tmp_path / "gray.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(write_jpeg(tmp_path / "full.jpg", (300, 200)).read_bytes()[:900])
    for name, reason in [
        ("empty.jpg", "empty file"),
        ("Thumbs.db", "not an image file name"),
        ("text.jpg", "not a decodable image"),
        ("cut.jpg", "corrupt image"),
    ]:
        with pytest.raises(UnusableImage, match=reason):
            load_rgb(tmp_path / name)
    assert good


def test_huge_image_is_skipped_not_crashed(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(UnusableImage, match="too large"):
        load_rgb(write_jpeg(tmp_path / "huge.png", size=(100, 100), fmt="PNG"))


# --- archives ---------------------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize("name", ["../evil.txt", "PetImages/../../evil.txt", "/tmp/evil.txt"])
def test_zip_with_escaping_member_is_refused_before_writing(tmp_path, name):
    archive = make_zip(tmp_path / "a.zip", {"PetImages/Cat/1.jpg": b"x", name: b"pwned"})
    with pytest.raises(PawprintError, match="outside"):
        archives.extract(archive, tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*")) and not (tmp_path / "evil.txt").exists()


def test_zip_symlink_is_refused(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"ok.txt": b"x"}, symlink="PetImages/link")
    with pytest.raises(PawprintError, match="symbolic link"):
        archives.extract(archive, tmp_path / "out")


@pytest.mark.parametrize("kind", ["traversal", "symlink", "hardlink", "absolute"])
def test_tar_attacks_are_refused(tmp_path, kind):
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        data = b"pwned"
        info = tarfile.TarInfo({"traversal": "../evil.txt", "absolute": "/tmp/evil.txt"}.get(kind, "link"))
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        elif kind == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "/etc/passwd"
        info.size = len(data) if info.isfile() else 0
        tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    with pytest.raises(PawprintError, match="outside|link"):
        archives.extract(path, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


# --- Kaggle -----------------------------------------------------------------------------------------------

SECRETS = ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR")


@pytest.fixture
def no_kaggle_credentials(tmp_path, monkeypatch):
    for key in SECRETS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    return tmp_path


def petimages_zip(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(buf, "JPEG")
    members = {f"PetImages/{c}/{i}.jpg": buf.getvalue() for c in ("Cat", "Dog") for i in range(3)}
    members["readme.txt"] = b"cats and dogs"
    return make_zip(path, {**members, **(extra or {})})


class FakeKaggleApi:
    """Stands in for kaggle's KaggleApi at the boundary: same methods, files instead of HTTP."""

    calls: list = []
    archive_extra: dict | None = None
    fail: Exception | None = None

    def authenticate(self):
        FakeKaggleApi.calls.append("authenticate")

    def dataset_download_files(self, dataset, path=None, force=False, quiet=True, unzip=False, licenses=()):
        FakeKaggleApi.calls.append(dataset)
        Path(path).mkdir(parents=True, exist_ok=True)
        if FakeKaggleApi.fail:
            (Path(path) / "partial.zip").write_bytes(b"PK\x03\x04 half")
            raise FakeKaggleApi.fail
        petimages_zip(Path(path) / (dataset.split("/")[1] + ".zip"), FakeKaggleApi.archive_extra)


@pytest.fixture
def fake_kaggle(monkeypatch, no_kaggle_credentials):
    # `kaggle.api` is shadowed by an instance in kaggle/__init__.py, so import the module by its full name.
    ext = importlib.import_module("kaggle.api.kaggle_api_extended")
    monkeypatch.setattr(ext, "KaggleApi", FakeKaggleApi)
    FakeKaggleApi.calls, FakeKaggleApi.archive_extra, FakeKaggleApi.fail = [], None, None
    monkeypatch.setenv("KAGGLE_API_TOKEN", "fake-token-123")
    return no_kaggle_credentials


def test_kaggle_without_credentials_is_one_clear_line(no_kaggle_credentials):
    with pytest.raises(PawprintError) as info:
        kaggle.download("owner/data", no_kaggle_credentials / "raw")
    assert str(info.value).startswith("no Kaggle credentials: set KAGGLE_API_TOKEN")
    assert "data.source=digits" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("setup", ["token_env", "token_file", "user_key_env", "kaggle_json", "config_dir"])
def test_every_credential_form_is_recognised(no_kaggle_credentials, monkeypatch, setup):
    home = no_kaggle_credentials / "home"
    if setup == "token_env":
        monkeypatch.setenv("KAGGLE_API_TOKEN", "t")
    elif setup == "token_file":
        (home / ".kaggle").mkdir(parents=True)
        (home / ".kaggle" / "access_token").write_text("t")
    elif setup == "user_key_env":
        monkeypatch.setenv("KAGGLE_USERNAME", "u")
        monkeypatch.setenv("KAGGLE_KEY", "k")
    elif setup == "kaggle_json":
        (home / ".kaggle").mkdir(parents=True)
        (home / ".kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    else:
        (no_kaggle_credentials / "cfg").mkdir()
        (no_kaggle_credentials / "cfg" / "kaggle.json").write_text("{}")
        monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(no_kaggle_credentials / "cfg"))
    assert kaggle.has_credentials()


def test_kaggle_download_extracts_the_class_folders(fake_kaggle):
    out = fake_kaggle / "data" / "raw"
    sources.prepare(DataConfig(source="kaggle", kaggle_slug="someone/cats-dogs"), out, out.parent / "raw_test")
    assert FakeKaggleApi.calls == ["authenticate", "someone/cats-dogs"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))[:2] == ["Cat/0.jpg", "Cat/1.jpg"]
    assert sorted(p.name for p in out.iterdir()) == ["Cat", "Dog"]
    assert [p.name for p in out.parent.iterdir()] == ["raw"]  # the temporary folder is gone


def test_failed_kaggle_download_leaves_nothing(fake_kaggle):
    FakeKaggleApi.fail = ConnectionError("connection reset by peer")
    out = fake_kaggle / "data" / "raw"
    with pytest.raises(PawprintError, match="Kaggle download of 'a/b' failed .*connection reset"):
        kaggle.download("a/b", out)
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_kaggle_zip_with_traversal_member_is_refused(fake_kaggle):
    FakeKaggleApi.archive_extra = {"../../escaped.txt": b"pwned"}
    out = fake_kaggle / "data" / "raw"
    with pytest.raises(PawprintError, match="outside"):
        kaggle.download("a/b", out)
    assert not out.exists() and list(out.parent.iterdir()) == []
    assert not list(fake_kaggle.rglob("escaped.txt"))


# --- CIFAR-10 ---------------------------------------------------------------------------------------------


def cifar_archive(folder: Path) -> tuple[Path, dict]:
    """A tiny CIFAR-10 in the real format: pickled batches of 3072-byte rows in cifar-10-batches-py/."""
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    rng = np.random.default_rng(0)
    md5 = {}
    path = folder / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tf:

        def add(name, obj):
            data = pickle.dumps(obj)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            md5[name] = hashlib.md5(data).hexdigest()

        for b in batches:
            add(b, {"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]})
        add("batches.meta", {"label_names": names})
    return path, md5


def test_cifar10_download_keeps_the_official_test_set_apart(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    served = tmp_path / "served"
    served.mkdir()
    archive, md5 = cifar_archive(served)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(CIFAR10, "url", f"http://127.0.0.1:{server.server_port}/{archive.name}")
        monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(archive.read_bytes()).hexdigest())
        monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
        monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
        monkeypatch.setattr(
            CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names", "md5": md5["batches.meta"]}
        )
        out, test_out = tmp_path / "data" / "raw", tmp_path / "data" / "raw_test"
        test_out.mkdir(parents=True)
        sources.prepare(DataConfig(source="cifar10"), out, test_out)
    finally:
        server.shutdown()
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    test_files = sorted(p.relative_to(test_out).as_posix() for p in test_out.rglob("*.png"))
    assert len(files) == 20 and all("/train_" in f for f in files) and "bird/train_00002.png" in files
    assert len(test_files) == 4 and "airplane/test_00000.png" in test_files
    assert Image.open(out / "cat" / "train_00003.png").size == (32, 32)
    assert sorted(p.name for p in out.parent.iterdir()) == ["raw", "raw_test"]


def test_cifar10_offline_is_a_clear_error(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(PawprintError, match="CIFAR-10 could not be downloaded.*data.source=digits"):
        sources.prepare(DataConfig(source="cifar10"), tmp_path / "data" / "raw", tmp_path / "data" / "raw_test")
    assert list((tmp_path / "data").iterdir()) == []


def class_folder(root: Path, per_class: int, offset: int = 0, classes=("cat", "dog")) -> Path:
    for c in classes:
        for i in range(per_class):
            write_jpeg(root / c / f"{offset + i}.jpg", size=(30 + offset + i, 30))  # each file different
    return root


def test_a_test_folder_is_the_whole_test_split(tmp_path):
    raw = class_folder(tmp_path / "raw", 8)
    test_raw = class_folder(tmp_path / "own_test", 3, offset=100)
    (test_raw / "dog" / "empty.jpg").write_bytes(b"")
    sizes = SplitSizes(test=999, val=2, labeled=4, unlabeled=6)  # test_size unused
    counts = build.build(raw, tmp_path / "splits", tmp_path / "skipped.csv", sizes, 36, seed=0, test_raw=test_raw)
    test = cache.load(tmp_path / "splits", "test")
    assert sorted(test.paths) == sorted(f"test/{c}/{100 + i}.jpg" for c in ("cat", "dog") for i in range(3))
    assert len(cache.load(tmp_path / "splits", "unlabeled")) == 6 and counts == {"kept": 22, "skipped": 1}
    drawn = {p for n in ("val", "labeled", "unlabeled") for p in cache.load(tmp_path / "splits", n).paths}
    assert not any(p.startswith("test/") for p in drawn)
    assert "test/dog/empty.jpg,empty file" in (tmp_path / "skipped.csv").read_text()


def test_without_a_test_folder_the_splits_are_unchanged(tmp_path):
    raw = class_folder(tmp_path / "raw", 8)
    (tmp_path / "empty").mkdir()
    sizes = SplitSizes(test=4, val=2, labeled=4, unlabeled=6)
    build.build(raw, tmp_path / "a", tmp_path / "a.csv", sizes, 36, seed=0)
    build.build(raw, tmp_path / "b", tmp_path / "b.csv", sizes, 36, seed=0, test_raw=tmp_path / "empty")
    assert [f.read_bytes() for f in sorted((tmp_path / "a").iterdir())] == [
        f.read_bytes() for f in sorted((tmp_path / "b").iterdir())
    ]


@pytest.mark.parametrize("problem", ["missing", "classes", "shared"])
def test_a_wrong_test_folder_is_one_line_and_writes_nothing(tmp_path, problem):
    raw = class_folder(tmp_path / "raw", 8)
    test_raw = tmp_path / "own_test"
    if problem == "classes":
        class_folder(test_raw, 2, offset=100, classes=("cat", "fox"))
    elif problem == "shared":
        class_folder(test_raw, 2, offset=100)
        (test_raw / "cat" / "copy.jpg").write_bytes((raw / "dog" / "3.jpg").read_bytes())
    expected = {
        "missing": "data.test_folder = '.*own_test': no such folder",
        "classes": r"data.test_folder: its classes \(cat, fox\) differ from the training folder's \(cat, dog\)",
        "shared": r"data.test_folder shares 1 images with the training folder \(e.g. cat/copy.jpg\)",
    }[problem]
    with pytest.raises(PawprintError, match=expected):
        if problem == "missing":
            sources.prepare(DataConfig(source="folder", folder=str(raw), test_folder=str(test_raw)),
                            tmp_path / "out", tmp_path / "out_test")  # fmt: skip
        else:
            build.build(raw, tmp_path / "splits", tmp_path / "skipped.csv", SplitSizes(4, 2, 4, 6), 36, 0, test_raw)
    assert not (tmp_path / "splits").exists() and not (tmp_path / "out").exists()
