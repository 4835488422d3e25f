"""Commands around the pipeline that no stage imports: `pawprint bench`, `pawprint seeds`, `pawprint precision`.
Each module has a `main(argv)` with its own options (`pawprint <tool> --help`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def dvc(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """This environment's DVC, with this environment's bin folder first on PATH: the stages' `python` is then
    the one pawprint runs in, so `.venv/bin/pawprint seeds` works without the environment activated."""
    bin_dir = str(Path(sys.executable).parent)  # not resolved: a venv's python is a link out of the venv
    env = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}
    return subprocess.run([sys.executable, "-m", "dvc", *args], env=env, **kwargs)
