"""The Kaggle cats-vs-dogs download (PetImages layout), through the `kaggle` package's API.

`import kaggle` authenticates at import time and calls `exit(1)` when it cannot, so the credentials are
checked here first, and the API class is imported from its module (which does not authenticate). Nothing
here logs or stores a credential: they stay in the environment and the files the user made.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pawprint.data.archives import extract
from pawprint.errors import PawprintError

NO_CREDENTIALS = (
    "no Kaggle credentials: set KAGGLE_API_TOKEN (or save the token to ~/.kaggle/access_token), or "
    "KAGGLE_USERNAME and KAGGLE_KEY (or ~/.kaggle/kaggle.json; KAGGLE_CONFIG_DIR moves that folder); "
    "or run offline with -S data.source=digits"
)


def _config_dirs() -> list[Path]:
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return [Path(os.environ["KAGGLE_CONFIG_DIR"])]
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [Path.home() / ".kaggle", xdg / "kaggle"]


def has_credentials() -> bool:
    env = os.environ
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    home = Path.home() / ".kaggle"
    if (home / "access_token").is_file() or (home / "access_token.txt").is_file():
        return True
    return any((d / "kaggle.json").is_file() for d in _config_dirs())


def _api():
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    try:
        api.authenticate()
    except SystemExit as exc:  # the client's way of saying "no usable credentials"
        raise PawprintError(NO_CREDENTIALS) from exc
    return api


def class_root(folder: Path) -> Path:
    """The folder whose sub-folders are the classes (`PetImages` in the Kaggle archive), however deep."""
    for candidate in sorted([folder, *(p for p in folder.rglob("*") if p.is_dir())], key=lambda p: len(p.parts)):
        subdirs = [p for p in candidate.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
        if len(subdirs) >= 2 and all(any(f.is_file() for f in d.iterdir()) for d in subdirs):
            return candidate
    raise PawprintError(f"the downloaded archive has no folder of class folders under {folder.name}")


def download(slug: str, out: Path) -> None:
    """Download and extract into a temporary folder beside `out`, then move the classes into `out`.

    A failed or interrupted download leaves only the temporary folder, which is removed.
    """
    if not has_credentials():
        raise PawprintError(NO_CREDENTIALS)
    api = _api()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".kaggle-", dir=out.parent) as tmp:
        tmp = Path(tmp)
        try:
            api.dataset_download_files(slug, path=str(tmp / "zip"), quiet=False, unzip=False)
        except Exception as exc:  # the client raises HTTP, OS and value errors alike
            raise PawprintError(
                f"Kaggle download of {slug!r} failed ({str(exc).splitlines()[0][:160]}); check data.kaggle_slug, "
                "your network and that you accepted the dataset's terms on kaggle.com"
            ) from exc
        archives = sorted((tmp / "zip").glob("*.zip"))
        if not archives:
            raise PawprintError(f"Kaggle download of {slug!r} produced no zip archive")
        extract(archives[0], tmp / "files")
        root = class_root(tmp / "files")
        out.mkdir(parents=True, exist_ok=True)
        for cls in sorted(p for p in root.iterdir() if p.is_dir()):
            shutil.move(str(cls), out / cls.name)
