"""Where shared state lives, and how outputs are written so a killed stage never leaves half a file.

Stage outputs are relative to the working directory (DVC runs queued experiments in a copy under
`.dvc/tmp/exps`), while state shared by all runs (the MLflow store, resumable checkpoints) lives at the root
of the real repository, which DVC passes as `DVC_ROOT`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pawprint.errors import PawprintError

# Stage outputs, relative to the stage's working directory (the workspace, or DVC's copy of it).
SPLITS_DIR = Path("data/splits")
MODELS_DIR = Path("models")
STUDENTS_DIR = MODELS_DIR / "students"  # what evaluation compares: one file per method
TEACHERS_DIR = MODELS_DIR / "teachers"  # what distillation reads, evaluated too
PRETRAINED_DIR = MODELS_DIR / "pretrained"  # SimCLR backbones, inputs to fine-tuning only
METRICS_DIR = Path("metrics")
PLOTS_DIR = Path("plots")
REPORTS_DIR = Path("reports")
STUDIES_DIR = Path("studies")  # the presets of `pawprint study`, with the published numbers of each


def metrics_path(model: Path) -> Path:
    """`models/students/kd.pt` -> `metrics/students/kd.json`: one folder per kind, as evaluation reads them."""
    return METRICS_DIR / model.parent.name / f"{model.stem}.json"


def plots_path(model: Path) -> Path:
    return PLOTS_DIR / model.parent.name / f"{model.stem}.csv"


def split_files(*names: str) -> list[Path]:
    return [SPLITS_DIR / f"{name}.{ext}" for name in names for ext in ("npy", "csv")]


def repo_root() -> Path:
    root = os.environ.get("DVC_ROOT")
    if root:
        return Path(root).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").exists():
            return candidate
    return here


def resume_dir() -> Path:
    """Resumable checkpoints: outside DVC's outputs so DVC never caches or deletes them."""
    return repo_root() / ".cache" / "pawprint" / "resume"


def digest(paths: list[Path], salt: str = "") -> str:
    """SHA-256 over `salt` and the names and bytes of `paths` (order-independent)."""
    h = hashlib.sha256(salt.encode())
    for path in sorted(Path(p) for p in paths):
        h.update(path.name.encode())
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; on success it replaces `path` in one rename.

    The sibling is in the same folder (same filesystem), so the rename is atomic and DVC can only ever see
    the old output or the complete new one. On failure the temporary is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)) / path.name
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno == 28:  # ENOSPC
            raise PawprintError(
                f"no space left on the device while writing {path}: free some space and rerun "
                "(the previous output is intact)"
            ) from exc
        raise
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)
