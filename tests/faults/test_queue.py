"""Two DVC queue workers writing to one fresh local MLflow store at once: both experiments are recorded and
nothing fails with "database is locked" (the store is created under a file lock, writes are batched).

What is DVC's, not ours, and why the test never waits for a worker to exit: `dvc queue start` forks a
keeper per worker that inherits the caller's stdout and stderr and lives as long as its worker, so a caller
reading them (as `run` does) waits for the workers, not for the command. A worker leaves only when the one
shutdown message its idle monitor sends reaches it, and DVC's tracker has reports of workers that never leave
(treeverse/dvc#8165, #10673). So the test starts the queue without holding its output, watches the
experiments, and kills whatever worker is left (docs/testing.md has what was seen)."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import pipeline_env, run

pytestmark = pytest.mark.slow


def finished_queue(repo: Path, env: dict, deadline: float) -> str:
    status = ""
    while time.time() < deadline:
        status = run(["dvc", "queue", "status"], repo, env, timeout=120).stdout
        if "Queued" not in status and "Running" not in status and ("Success" in status or "Failed" in status):
            break
        time.sleep(3)
    return status


def start_queue(repo: Path, env: dict, jobs: int) -> None:
    subprocess.run(
        ["dvc", "queue", "start", "-j", str(jobs)],
        cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=120,
    )  # fmt: skip


def kill_workers(repo: Path) -> None:
    """Every queue worker still alive, by the pid its keeper recorded (and only if it is still that worker)."""
    for info in (repo / ".dvc" / "tmp" / "exps" / "celery").glob("dvc-exp-worker-*.json"):
        pid = json.loads(info.read_text())["pid"]
        try:
            if b"queue-worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError):
            pass


def queue_logs(repo: Path) -> str:
    """The workers' and the experiments' own logs, for a failure that happens only now and then."""
    logs = sorted((repo / ".dvc" / "tmp" / "exps").rglob("*.out"))
    return "".join(f"\n--- {log}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)


def test_two_parallel_queue_workers_share_the_mlflow_store(pipeline_repo):
    repo, env = pipeline_repo, pipeline_env(pipeline_repo)
    assert not (repo / "mlruns" / "mlflow.db").exists()
    # The study's grid syntax, up to the baseline: two workers, each with its split, training and MLflow runs.
    run(["dvc", "exp", "run", "--queue", "-S", "unlabeled_size=50,60", "train_baseline"], repo, env)
    try:
        start_queue(repo, env, jobs=2)
        status = finished_queue(repo, env, deadline=time.time() + 600)
    finally:  # never leave a worker or a stage running behind the test
        run(["dvc", "queue", "stop", "--kill"], repo, env, check=False, timeout=120)
        kill_workers(repo)
    # A locked database fails a stage.
    assert status.count("Success") == 2 and "Failed" not in status, status + queue_logs(repo)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("pawprint")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    assert all(r.info.status == "FINISHED" for r in runs)
    for stage in ("split", "train_baseline"):
        names = {r.data.tags["dvc_exp"] for r in runs if r.data.tags["stage"] == stage}
        assert len(names) == 2 and "workspace" not in names, (stage, names)
    parents = {r.info.run_id: r.data.tags["dvc_exp"] for r in runs if r.data.tags["stage"] == "pipeline"}
    assert sorted(parents.values()) == sorted(names)  # one parent run per queued experiment
    for r in runs:
        if r.data.tags["stage"] != "pipeline":
            assert parents[r.data.tags["mlflow.parentRunId"]] == r.data.tags["dvc_exp"]
