"""Fixtures (helpers are in tests/helpers.py): an isolated MLflow store and repository root, a tiny pipeline
repository, and one real `dvc repro` of it shared by every test that only reads it; how many workers run the
suite, and no process left behind by a test."""

from __future__ import annotations

import os
import shutil
import signal
import warnings
from pathlib import Path

import pytest
from filelock import FileLock

from tests.helpers import make_pipeline_repo, pipeline_env, run, usable_cpus

TAG = "PAWPRINT_TEST"  # the environment variable naming the test that started a process


def pytest_xdist_auto_num_workers(config):
    """`-n logical` / `-n auto`: one worker per CPU this run may use, a cgroup quota included."""
    return usable_cpus()


def pytest_configure():
    """Each xdist worker's stages get their share of the cores: two workers whose stages each start one
    OpenMP thread per core spin at their barriers against each other, which slows both many times over."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cpus() // int(workers))))


def tagged(tag: str) -> list[tuple[int, str]]:
    """Every process (pid, command line) whose environment carries `tag`, daemons that left their session
    included: the environment is inherited through every fork."""
    marker = f"{TAG}={tag}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(proc.name) != os.getpid() and marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append((int(proc.name), (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (OSError, ValueError):  # gone meanwhile, or not ours to read
            pass
    return found


@pytest.fixture(autouse=True)
def no_process_outlives_its_test(request, monkeypatch):
    """Whatever a test starts is killed when the test ends, with a warning naming it: a DVC queue worker that
    never leaves, or a server a failed test did not stop, would otherwise take CPU from every later test and
    could hold CI open past its limit. Linux only (/proc); elsewhere nothing is found."""
    tag = f"{os.getpid()}-{request.node.nodeid}"
    monkeypatch.setenv(TAG, tag)
    yield
    left = tagged(tag)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        warnings.warn(f"killed what the test left running: {left}", stacklevel=1)


def pytest_collection_modifyitems(items):
    """An order for `--dist worksteal`, which hands each worker a half of this list and lets an idle one take
    the tail of another's. The suite's longest chain is the `reproduced` fixture then the tests that rerun
    parts of it: marked `early`, they come first and run back to back on the first worker,
    which never waits. The second worker meanwhile runs the fast tests, then the slow ones, then the other
    users of `reproduced`, which is built by then; whoever is idle takes the rest."""

    def rank(item) -> int:
        if item.get_closest_marker("early"):
            return 0
        if "reproduced" in getattr(item, "fixturenames", ()):
            return 3
        return 2 if item.get_closest_marker("slow") else 1

    items.sort(key=rank)


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """Keep MLflow, resume checkpoints and DVC analytics away from the developer's own repository."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PAWPRINT_PARAMS", raising=False)
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def pipeline_repo(tmp_path) -> Path:
    """A git repository holding this project's pipeline (dvc.yaml, stages, library) and tiny, lean params."""
    return make_pipeline_repo(tmp_path / "repo", lean=True)


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory) -> tuple[Path, str]:
    """One uninterrupted `dvc repro` of the tiny pipeline, shared: tests copy it before changing anything.

    It is the suite's longest fixture, so under pytest-xdist it is built once for all workers: in the controller's
    folder (removed by pytest when every test passed), by whichever worker needs it first, the others waiting
    on a lock. A worker that failed half-way leaves no log, and the next one starts again from scratch."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder = shared / "reproduced"
    log = folder / "dvc-repro.log"
    with FileLock(shared / "reproduced.lock"):
        if not log.exists():
            shutil.rmtree(folder, ignore_errors=True)
            repo = make_pipeline_repo(folder / "repo")
            out = run(["dvc", "repro"], repo, pipeline_env(repo)).stdout
            run(["git", "add", "-A"], repo)
            run(["git", "commit", "-qm", "reproduced"], repo)
            log.write_text(out)
    return folder / "repo", log.read_text()
