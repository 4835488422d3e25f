"""Extracting downloaded archives without trusting them: a member that would land outside the target folder
(`../`, an absolute path), a link of any kind, or a device file stops the extraction before anything is written.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from pawprint.errors import PawprintError


def _check_name(archive: Path, name: str, dest: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and path.parts[0].endswith(":")):
        raise PawprintError(f"{archive.name}: refused, member {name!r} would be written outside {dest}")


def _zip_members(archive: Path, zf: zipfile.ZipFile, dest: Path) -> None:
    for info in zf.infolist():
        _check_name(archive, info.filename, dest)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise PawprintError(f"{archive.name}: refused, member {info.filename!r} is a symbolic link")


def _tar_members(archive: Path, tf: tarfile.TarFile, dest: Path) -> None:
    for member in tf.getmembers():
        _check_name(archive, member.name, dest)
        if member.issym() or member.islnk():
            raise PawprintError(f"{archive.name}: refused, member {member.name!r} is a link")
        if not (member.isfile() or member.isdir()):
            raise PawprintError(f"{archive.name}: refused, member {member.name!r} is not a regular file")


def extract(archive: Path, dest: Path) -> None:
    """Every member is checked first; only then is anything written."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _zip_members(archive, zf, dest)
            zf.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            _tar_members(archive, tf, dest)
            tf.extractall(dest, filter="data")
    else:
        raise PawprintError(f"{archive.name}: neither a zip nor a tar archive; the download is probably broken")
