"""Two DVC queue workers writing to one fresh local MLflow store at once: both experiments are recorded and
nothing fails with "database is locked" (the store is created under a file lock, writes are batched)."""

import time

import pytest

from tests.conftest import pipeline_env, run

pytestmark = pytest.mark.slow


def test_two_parallel_queue_workers_share_the_mlflow_store(pipeline_repo):
    repo, env = pipeline_repo, pipeline_env(pipeline_repo)
    assert not (repo / "mlruns" / "mlflow.db").exists()
    # The study's grid syntax, up to the baseline: two workers, each with its split, training and MLflow runs.
    run(["dvc", "exp", "run", "--queue", "-S", "unlabeled_size=50,60", "train_baseline"], repo, env)
    run(["dvc", "queue", "start", "-j", "2"], repo, env)
    deadline = time.time() + 900
    status = ""
    while time.time() < deadline:
        status = run(["dvc", "queue", "status"], repo, env).stdout
        if "Queued" not in status and "Running" not in status and "Success" in status:
            break
        time.sleep(3)
    run(["dvc", "queue", "stop"], repo, env, check=False)
    assert status.count("Success") == 2 and "Failed" not in status, status  # a locked database fails a stage

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
