"""What tests share besides fixtures: the tiny params, a throw-away git + DVC repository holding this project's
pipeline, running a command with a deadline, and how many CPUs the suite may use."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"

TINY = {
    "unlabeled_size": 40,
    "data": {"test_size": 40, "val_size": 20, "labeled_size": 30, "image_size": 16, "cache_size": 18},
    # Without precise BN: a network of one epoch on 30 images, its statistics recomputed from two batches, has
    # channels whose variance is almost zero, and the order kernels sum in then flips its borderline test images
    # between batch sizes and runtimes. Precise BN is tested through Lightning in tests/test_training.py.
    "train": {"batch_size": 16, "patience": 1, "min_epochs": 3, "precise_bn": False},
    "baseline": {"epochs": 1},
    "simclr": {"epochs": 1},
    "finetune": {"epochs": 1},
    # long enough to be killed mid-way (tests/faults/test_kill_repro.py); at the tiny images' own size
    "teachers": {"resnet50": {"epochs": 3, "image_size": 0}},
    "ssl_teacher": {"pretrain_epochs": 1, "epochs": 1},
    "distill": {"epochs": 1},
}


# cgroup v2 keeps the CPU quota in one file ("max 100000" when unlimited); v1 in two.
CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def cpu_quota(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> int | None:
    """The cgroup CPU quota in whole CPUs (rounded up), or None where there is none."""
    try:
        if v2.exists():
            limit, period = v2.read_text().split()[:2]
            return None if limit == "max" else max(1, math.ceil(int(limit) / int(period)))
        limit, period = (int(p.read_text()) for p in v1)
    except (OSError, ValueError):
        return None
    return None if limit <= 0 else max(1, math.ceil(limit / period))


def usable_cpus() -> int:
    """The CPUs the suite may run on: its affinity, capped by a cgroup quota. `os.cpu_count()`, and OpenMP's
    default thread count, see every core of the host: on a CI runner limited to two CPUs of a larger one, a
    thread per host core in each worker's stages would spin against the kernel's throttling."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity call
        cpus = os.cpu_count() or 1
    return min(cpus, cpu_quota() or cpus)


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
    the test, so a hung DVC queue worker or stage can never hang the suite."""
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


def ran(output: str) -> set[str]:
    """The stages a `dvc repro` or `dvc exp run` ran, from its output."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def dirty(repo: Path, env: dict) -> set[str]:
    """The stages the next `dvc repro` would run."""
    return set(json.loads(run(["dvc", "status", "--json"], repo, env).stdout or "{}"))


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
    for name in ("dvc.yaml", "stages", "src", "studies", "data/.gitignore", "mlruns/.gitignore", ".gitignore"):
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
    from pawprint.tools import environment

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PAWPRINT_PARAMS", "DVC_ROOT")}
    return environment({**env, "DVC_NO_ANALYTICS": "1"})


def log_predictions(folder: Path, truth, models: dict[str, list[str]], params: dict) -> None:
    """An evaluate run in MLflow as the stage logs it: each model's test accuracy and its predictions."""
    import numpy as np

    from pawprint import tracking

    out = folder / "predictions"
    out.mkdir(exist_ok=True)
    with tracking.stage_run("evaluate", params) as run:
        accuracy = {m: float(np.mean(np.array(p) == np.array(truth))) for m, p in models.items()}
        run.log_metrics({f"test/{m}/{k}": a for m, a in accuracy.items() for k in ("accuracy", "macro_f1")})
        for model, predicted in models.items():
            rows = [{"actual": a, "predicted": b} for a, b in zip(truth, predicted)]
            (out / f"{model}.json").write_text(json.dumps({"predictions": rows}))
            run.log_artifact(out / f"{model}.json", "predictions")
