"""Team mode: `MLFLOW_TRACKING_URI=http://host:port` sends a stage's run to a shared `mlflow server` (a real
one, started here on loopback with its own database and artifact store), where the client finds the run, its
metrics and its checkpoint, and the project's own store stays untouched."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from tests.faults.test_ui_loopback import free_port
from tests.helpers import pipeline_env, run

pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    store = tmp_path / "server"
    store.mkdir()
    cmd = [Path(sys.executable).parent / "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}", "--artifacts-destination",
           str(store / "artifacts"), "--workers", "1"]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("mlflow server did not start")
                time.sleep(0.5)
        yield url, store
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_stage_logs_to_a_shared_mlflow_server(pipeline_repo, mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    url, store = mlflow_server
    env = {**pipeline_env(pipeline_repo), "MLFLOW_TRACKING_URI": url}
    run(["dvc", "repro", "train_baseline"], pipeline_repo, env)
    assert not (pipeline_repo / "mlruns" / "mlflow.db").exists()  # nothing went to the local store

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("pawprint")
    [baseline] = client.search_runs([experiment.experiment_id], "tags.stage = 'train_baseline'")
    assert baseline.info.status == "FINISHED" and "best/val/accuracy" in baseline.data.metrics
    assert len(client.get_metric_history(baseline.info.run_id, "val/loss")) == baseline.data.metrics["epochs"]
    local = Path(client.download_artifacts(baseline.info.run_id, "model/baseline.pt", str(tmp_path)))
    mine = torch.load(pipeline_repo / "models" / "students" / "baseline.pt", weights_only=True)
    assert torch.load(local, weights_only=True)["state_dict"].keys() == mine["state_dict"].keys()
    assert local.read_bytes() == (pipeline_repo / "models" / "students" / "baseline.pt").read_bytes()
    assert list((store / "artifacts").rglob("baseline.pt"))  # stored by the server, not by the client
