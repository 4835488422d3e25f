"""`kill -9` of `dvc repro` (and of the stage it runs) in the middle of a training stage, then `dvc repro`
again: it completes, ends with the same splits and teacher metrics as an uninterrupted run, DVC cached
nothing half written, and the MLflow store still opens. (The target is the teacher, the stage that is killed,
and what it depends on: the rest of the pipeline would add minutes and nothing to the point.)"""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.helpers import make_pipeline_repo, pipeline_env, run

pytestmark = pytest.mark.slow


TARGET = "train_teacher@resnet50"


def results(repo):
    metrics = json.loads((repo / "metrics" / "teachers" / "resnet50.json").read_text())
    splits = {p.name: p.read_bytes() for p in (repo / "data" / "splits").iterdir()}
    return metrics, splits


def test_killed_repro_completes_to_the_uninterrupted_result(reproduced, tmp_path):
    reference, _ = reproduced
    repo = make_pipeline_repo(tmp_path / "repo", lean=True)  # a subset of the reference's models
    env = pipeline_env(repo)
    proc = subprocess.Popen(
        ["dvc", "repro", TARGET],
        cwd=repo,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    resume = repo / ".cache" / "pawprint" / "resume" / "train_teacher@resnet50"
    deadline = time.time() + 600
    while time.time() < deadline and not list(resume.glob("*/last.ckpt")) and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # dvc and the stage it runs, as a crash or the OOM killer would
    proc.wait()
    assert not (repo / "metrics" / "teachers" / "resnet50.json").exists(), "killed before the end"

    again = run(["dvc", "repro", TARGET], repo, env).stdout
    assert "Running stage 'train_teacher@resnet50'" in again
    (metrics, splits), (reference_metrics, reference_splits) = results(repo), results(reference)
    assert splits == reference_splits
    assert {k: v for k, v in metrics.items() if k != "wall_time_s"} == {
        k: v for k, v in reference_metrics.items() if k != "wall_time_s"
    }
    assert run(["dvc", "status", "--json", TARGET], repo, env).stdout.strip() in ("{}", "")
    assert "Running stage" not in run(["dvc", "repro", TARGET], repo, env).stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("pawprint")
    teacher_runs = client.search_runs([exp.experiment_id], "tags.stage = 'train_teacher@resnet50'")
    assert sorted(r.info.status for r in teacher_runs) == ["FINISHED", "KILLED"]
