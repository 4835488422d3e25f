"""Shared fixtures: a cut-down params file and a throw-away git + DVC repository running the real pipeline."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"

TINY = {
    "unlabeled_size": 40,
    "data": {"test_size": 40, "val_size": 20, "labeled_size": 30, "image_size": 16, "cache_size": 18},
    "train": {"batch_size": 16, "patience": 1, "min_epochs": 3},
    "baseline": {"epochs": 1},
    "simclr": {"epochs": 1},
    "finetune": {"epochs": 1},
    "teachers": {"resnet50": {"epochs": 3}},  # long enough to be killed mid-way (tests/faults/test_kill_repro.py)
    "ssl_teacher": {"pretrain_epochs": 1, "epochs": 1},
    "distill": {"epochs": 1},
}


def pytest_configure():
    """Each xdist worker's stages get their share of the cores: two workers whose stages each start one
    OpenMP thread per core spin against each other (a 40 s training once took over 500 s that way)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(workers))))


def pytest_collection_modifyitems(items):
    """An order for `--dist worksteal`, which hands each worker a half of this list and lets an idle one take
    the tail of another's. The suite's longest chain is the `reproduced` fixture then the tests that rerun
    parts of it (5 and 3 minutes): marked `early`, they come first and run back to back on the first worker,
    which never waits. The second worker meanwhile runs the fast tests, then the slow ones, then the other
    users of `reproduced`, which is built by then; whoever is idle takes the rest."""

    def rank(item) -> int:
        if item.get_closest_marker("early"):
            return 0
        if "reproduced" in getattr(item, "fixturenames", ()):
            return 3
        return 2 if item.get_closest_marker("slow") else 1

    items.sort(key=rank)


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


def tiny_params(lean: bool = False, **override) -> dict:
    """`lean`: one teacher and one KD run, for tests about infrastructure rather than methods."""
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY)
    resnet50 = params["teachers"]["resnet50"]
    # At 16 px VGG16 cannot run (five 2x poolings), so the tiny ensemble pairs ResNet50 with a second ResNet50.
    params["teachers"] = {"resnet50": resnet50, **({} if lean else {"second": {**resnet50, "epochs": 1}})}
    if lean:
        params["distill_runs"] = {"kd": params["distill_runs"]["kd"]}
    else:
        params["distill_runs"]["kd_ensemble"]["teachers"] = {"resnet50": 1.0, "second": 1.0}
    return merge(params, override)


def run(
    cmd: list[str], cwd: Path, env: dict | None = None, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess:
    """A command with its output; one that outlives `timeout` is killed with everything it started and fails
    the test, so a hung DVC queue worker or stage can never hang the suite (CI once timed out that way)."""
    with subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # the command may be gone, a child of it still running
                os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"{' '.join(cmd)} still running after {timeout:.0f} s: killed") from None
    result = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


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

    It costs a fifth of the suite, so under pytest-xdist it is built once for all workers: in the controller's
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


APPEND_ONLY = (".dvc/cache", "mlruns/artifacts")  # never rewritten in place: copies may share their files


def copy_repo(src: Path, dst: Path) -> Path:
    """A copy a test may change freely; the DVC cache and MLflow artifacts (about 1.5 GB per reproduced repo)
    are hard-linked, which is safe because files there are only ever added, never modified."""
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(*(Path(p).name for p in APPEND_ONLY)))
    for folder in APPEND_ONLY:
        if (src / folder).exists():
            shutil.copytree(src / folder, dst / folder, symlinks=True, copy_function=os.link)
    return dst


def make_pipeline_repo(repo: Path, lean: bool = False) -> Path:
    repo.mkdir(parents=True)
    for name in ("dvc.yaml", "stages", "src", "data/.gitignore", "mlruns/.gitignore", ".gitignore"):
        src, dst = ROOT / name, repo / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dst)
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny_params(lean), sort_keys=False))
    env = pipeline_env(repo)
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "config", "user.email", "test@example.com"], repo)
    run(["git", "config", "user.name", "test"], repo)
    run(["dvc", "init", "-q"], repo, env)
    run(["dvc", "config", "core.analytics", "false"], repo, env)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "init"], repo)
    return repo


def pipeline_env(repo: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PAWPRINT_PARAMS", "DVC_ROOT")}
    env["DVC_NO_ANALYTICS"] = "1"
    env["PATH"] = f"{Path(os.sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env
