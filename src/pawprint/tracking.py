"""MLflow: one experiment for the pipeline, one run per executed stage.

The store is `sqlite:///<repo root>/mlruns/mlflow.db` (MLflow 3 refuses a plain `./mlruns` file store) with
artifacts under `<repo root>/mlruns/artifacts`, both resolved from `DVC_ROOT` so queued experiments, which run
in a copy under `.dvc/tmp/exps`, log to the same store; `MLFLOW_TRACKING_URI` overrides it (a team server).
The store is created under a file lock: two processes migrating a fresh database at once break it.
Only values this module is handed are logged, never the environment, so secrets cannot leak into runs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pawprint.paths import digest, repo_root

EXPERIMENT = "pawprint"
REGISTERED_MODEL = "pawprint-student"  # each export registers its best student as a new version


def store_dir() -> Path:
    return repo_root() / "mlruns"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_dir() / 'mlflow.db'}"


def use_store() -> str:
    """Point MLflow at the store (returned). Off a terminal MLflow's bar per artifact transfer is noise in a log
    (DVC's, CI's), so it is off there unless MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR says otherwise."""
    import sys

    import mlflow

    if not sys.stderr.isatty():
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    return uri


def _client():
    from mlflow.tracking import MlflowClient

    return MlflowClient(use_store())


def _local_store() -> bool:
    return tracking_uri().startswith("sqlite:///")


def _store_lock() -> contextlib.AbstractContextManager:
    """Serialises find-or-create on the local store (processes racing on a fresh sqlite database break it);
    a tracking server does that itself."""
    if not _local_store():
        return contextlib.nullcontext()
    from filelock import FileLock

    store_dir().mkdir(parents=True, exist_ok=True)
    return FileLock(store_dir() / ".init.lock")


def ensure_experiment() -> tuple[Any, str]:
    """The client and the pipeline's experiment id, creating store and experiment once, under a lock."""
    with _store_lock():
        client = _client()
        exp = client.get_experiment_by_name(EXPERIMENT)
        if exp is not None:
            return client, exp.experiment_id
        location = (store_dir() / "artifacts").as_uri() if _local_store() else None
        return client, client.create_experiment(EXPERIMENT, artifact_location=location)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def fingerprint(paths: list[Path]) -> str:
    """Hash of the files a stage reads: runs on the same data share it, whatever the experiment."""
    return digest(paths)[:16]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_abandoned(client: Any, experiment_id: str, stage: str) -> None:
    """Mark KILLED the RUNNING runs of this stage whose process, on this host, is gone (killed stages)."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.stage = '{stage}' and attributes.status = 'RUNNING'"
    )
    host = socket.gethostname()
    for run in runs:
        tags = run.data.tags
        pid = int(tags.get("pid", "0") or 0)
        if tags.get("host") == host and pid and not _alive(pid):
            client.set_terminated(run.info.run_id, status="KILLED")


def pipeline_execution() -> str:
    """What ties the stage runs of one `dvc repro` or `dvc exp run` together: DVC runs every stage of an
    execution as a descendant of one dvc process, so that process (host, pid, start time) and the experiment
    name identify it. A stage started by hand, with no dvc above it, is an execution of its own."""
    import psutil

    me = psutil.Process()
    owner = me
    for proc in me.parents():
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if any(Path(part).name == "dvc" for part in cmd[:2]) or cmd[1:3] == ["-m", "dvc"]:
            owner = proc
            break
    exp = os.environ.get("DVC_EXP_NAME", "workspace")
    return f"{socket.gethostname()}:{owner.pid}:{owner.create_time():.2f}:{exp}"


def _parent_run(client: Any, experiment_id: str, tags: dict[str, str]) -> str:
    """The run of this pipeline execution, created by its first stage; stage runs nest under it in the UI."""
    execution = tags["pipeline_execution"]
    with _store_lock():
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.stage = 'pipeline' and tags.pipeline_execution = '{execution}'"
        )
        if found:
            client.update_run(found[0].info.run_id, status="RUNNING")
            return found[0].info.run_id
        name = f"pipeline {tags['dvc_exp']}"
        keep = ("git_commit", "dvc_exp", "host", "pipeline_execution")
        parent_tags = {"stage": "pipeline", "mlflow.runName": name, **{k: tags[k] for k in keep}}
        return client.create_run(experiment_id, tags=parent_tags, run_name=name).info.run_id


class StageRun:
    """The MLflow run of one stage execution; metrics are sent in batches (one call costs ~50 ms)."""

    def __init__(self, client: Any, run_id: str):
        self.client = client
        self.run_id = run_id

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        if Path(path).exists():
            self.client.log_artifact(self.run_id, str(path), folder)

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


@contextlib.contextmanager
def stage_run(stage: str, params: dict[str, Any], data_files: list[Path] = ()) -> Iterator[StageRun]:
    """Open a run tagged with stage, commit, DVC experiment and data fingerprint; FAILED if the body raises."""
    from mlflow.entities import Param

    client, experiment_id = ensure_experiment()
    close_abandoned(client, experiment_id, stage)
    commit = git_commit()
    tags = {
        "stage": stage,
        "git_commit": commit,
        "mlflow.source.git.commit": commit,  # what the MLflow UI shows as the run's source version
        "mlflow.source.name": os.environ.get("DVC_STAGE") or stage,
        "dvc_exp": os.environ.get("DVC_EXP_NAME", "workspace"),
        "host": socket.gethostname(),
        "pid": str(os.getpid()),
        "mlflow.runName": stage,
        "pipeline_execution": pipeline_execution(),
    }
    if data_files:
        tags["data_fingerprint"] = fingerprint(list(data_files))
    parent = _parent_run(client, experiment_id, tags)
    run = client.create_run(experiment_id, tags={**tags, "mlflow.parentRunId": parent}, run_name=stage)
    run_id = run.info.run_id
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
    monitor = _system_metrics(run_id)
    try:
        yield StageRun(client, run_id)
    except BaseException:
        monitor.finish()
        client.set_terminated(run_id, status="FAILED")
        client.set_terminated(parent, status="FAILED")
        raise
    monitor.finish()
    client.set_terminated(run_id, status="FINISHED")
    client.set_terminated(parent, status="FINISHED")


def _system_metrics(run_id: str):
    """MLflow's own sampler of CPU, memory, disk and network (GPU too, where NVIDIA's library is installed),
    as `system/...` metrics of the run, every few seconds while the stage works."""
    import logging

    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # its start and stop notes
    monitor = SystemMetricsMonitor(run_id, sampling_interval=5, tracking_uri=tracking_uri())
    monitor.start()
    return monitor


def log_pytorch_model(run: StageRun, model: Any, example: Any, metadata: dict[str, Any]) -> str:
    """Log `model` as an MLflow model of `run`, registered as a new version of `REGISTERED_MODEL` (so
    `pawprint predict --model models:/pawprint-student/latest` finds the newest), with an input example, the
    signature MLflow infers from it, and in its metadata what `pawprint predict` needs (classes, sizes).
    Returns the model's URI.

    MLflow 3 stores it with `torch.export` ("pt2"): loading it runs no pickled code, and the batch
    dimension stays dynamic. Requirements are given, not inferred: inference imports the model in a
    subprocess, seconds spent to find torch.
    """
    import mlflow
    import torch

    with mlflow.start_run(run_id=run.run_id):
        info = mlflow.pytorch.log_model(
            model.eval(),
            name="model",
            input_example=example.numpy(),
            metadata=metadata,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            registered_model_name=REGISTERED_MODEL,
        )
    return info.model_uri
