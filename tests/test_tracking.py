import os
import subprocess
import sys

import pytest

from pawprint import tracking


def client():
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking.tracking_uri())


def test_store_is_sqlite_under_dvc_root(isolated_env):
    assert tracking.tracking_uri() == f"sqlite:///{isolated_env / 'mlruns' / 'mlflow.db'}"
    _, exp_id = tracking.ensure_experiment()
    exp = client().get_experiment(exp_id)
    assert exp.artifact_location == (isolated_env / "mlruns" / "artifacts").as_uri()


def test_env_var_overrides_store(isolated_env, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{isolated_env / 'other.db'}")
    assert tracking.tracking_uri().endswith("other.db")


def test_stage_run_records_params_tags_metrics_and_artifacts(isolated_env, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "brisk-yarn")
    data = isolated_env / "labeled.npy"
    data.write_bytes(b"fake split")
    artifact = isolated_env / "model.pt"
    artifact.write_bytes(b"weights")
    with tracking.stage_run("train_teacher", {"teacher.lr": 0.001, "seed": 0}, [data]) as run:
        run.log_metrics({"val/loss": 1.5, "val/accuracy": 0.5}, step=1)
        run.log_metrics({"val/loss": 1.0, "val/accuracy": 0.75}, step=2)
        run.log_artifact(artifact, "model")
        run_id = run.run_id
    got = client().get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"teacher.lr": "0.001", "seed": "0"}
    assert got.data.tags["stage"] == "train_teacher"
    assert got.data.tags["dvc_exp"] == "brisk-yarn"
    assert got.data.tags["data_fingerprint"] == tracking.fingerprint([data])
    history = client().get_metric_history(run_id, "val/accuracy")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.75)]
    assert [a.path for a in client().list_artifacts(run_id, "model")] == ["model/model.pt"]


def test_failed_stage_marks_run_failed(isolated_env):
    with pytest.raises(RuntimeError), tracking.stage_run("distill", {}) as run:
        run_id = run.run_id
        raise RuntimeError("boom")
    assert client().get_run(run_id).info.status == "FAILED"


def test_run_of_a_killed_stage_is_marked_killed_by_the_next_run(isolated_env):
    code = (
        "import os\nfrom pawprint import tracking\n"
        "with tracking.stage_run('distill', {}) as run:\n    print(run.run_id, flush=True)\n    os._exit(9)\n"
    )
    env = {**os.environ, "DVC_ROOT": str(isolated_env)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    killed_id = out.stdout.split()[0]
    assert client().get_run(killed_id).info.status == "RUNNING"
    with tracking.stage_run("train_teacher", {}):
        pass  # another stage leaves it alone
    assert client().get_run(killed_id).info.status == "RUNNING"
    with tracking.stage_run("distill", {}):
        pass
    assert client().get_run(killed_id).info.status == "KILLED"


def test_stages_under_one_dvc_process_share_one_execution(tmp_path):
    """DVC runs each stage as a child (through a shell) of one dvc process: that process names the execution."""
    fake_dvc = tmp_path / "dvc"
    child = f"{sys.executable} -c 'from pawprint import tracking; print(tracking.pipeline_execution())'"
    fake_dvc.write_text(
        f"import os, subprocess\nprint(os.getpid())\nfor _ in range(2):\n    subprocess.run({child!r}, shell=True)\n"
    )
    runs = [subprocess.run([sys.executable, str(fake_dvc)], capture_output=True, text=True) for _ in range(2)]
    (pid1, first, second), (pid2, third, _) = (r.stdout.split() for r in runs)
    assert first == second and first.split(":")[1] == pid1  # both stages: the same dvc process
    assert third != first and third.split(":")[1] == pid2  # the next `dvc repro`: a new execution


def test_stage_runs_of_one_execution_nest_under_one_parent_run(isolated_env):
    ids = []
    for stage in ("split", "evaluate"):
        with tracking.stage_run(stage, {"seed": 0}) as run:
            ids.append(run.run_id)
    runs = [client().get_run(i) for i in ids]
    parent_id = runs[0].data.tags["mlflow.parentRunId"]
    assert runs[1].data.tags["mlflow.parentRunId"] == parent_id
    parent = client().get_run(parent_id)
    assert parent.data.tags["stage"] == "pipeline" and parent.info.status == "FINISHED"
    assert parent.data.tags["pipeline_execution"] == tracking.pipeline_execution()


def test_runs_carry_mlflow_standard_tags_and_system_metrics(isolated_env, monkeypatch):
    import time

    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    with tracking.stage_run("train_teacher@resnet50", {"seed": 0}) as run:
        time.sleep(2.5)
    got = client().get_run(run.run_id)
    assert got.data.tags["mlflow.source.git.commit"] == got.data.tags["git_commit"]
    assert got.data.tags["mlflow.runName"] == "train_teacher@resnet50"
    assert any(k.startswith("system/cpu_utilization") for k in got.data.metrics), sorted(got.data.metrics)
