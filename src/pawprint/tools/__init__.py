"""Commands around the pipeline that no stage imports: `pawprint bench`, `pawprint seeds`, `pawprint precision`.
Each module has a `main(argv)` with its own options (`pawprint <tool> --help`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) with this environment's bin folder first on PATH: a `python` or `dvc` started
    from it is then the one pawprint runs in, whether or not the environment is activated."""
    base = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)  # not resolved: a venv's python is a link out of the venv
    return {**base, "PATH": os.pathsep.join([bin_dir, base.get("PATH", "")])}


def dvc(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """This environment's DVC in `environment()`: the stages' `python` is then the one pawprint runs in, so
    `.venv/bin/pawprint seeds` works without the environment activated."""
    return subprocess.run([sys.executable, "-m", "dvc", *args], env=environment(), **kwargs)
