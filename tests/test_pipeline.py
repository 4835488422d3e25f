"""The real `dvc repro` / `dvc exp run` on the embedded digits with a tiny config, in a throw-away git repo."""

import json

import pytest

from tests.conftest import copy_repo, pipeline_env, run

pytestmark = pytest.mark.slow

ALL = {
    "prepare",
    "split",
    "pretrain_simclr",
    "finetune_simclr",
    "train_teacher",
    "distill",
    "train_baseline",
    "evaluate",
}


def ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def mlflow_runs(repo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("pawprint")
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def test_pipeline_reruns_only_what_changed(reproduced, tmp_path):
    repo = copy_repo(reproduced[0], tmp_path / "repo")
    env = pipeline_env(repo)
    assert ran(reproduced[1]) == ALL
    summary = (repo / "reports" / "summary.md").read_text()
    for model in ("train_baseline", "finetune_simclr", "distill", "train_teacher"):
        assert f"| {model} |" in summary
        assert (repo / "reports" / "confusion" / f"{model}.png").stat().st_size > 1000
        assert json.loads((repo / "metrics" / f"{model}.json").read_text())["best_epoch"] >= 1

    client, runs = mlflow_runs(repo)
    assert sorted(r.data.tags["stage"] for r in runs) == sorted(ALL)
    teacher = next(r for r in runs if r.data.tags["stage"] == "train_teacher")
    assert teacher.data.params["teacher.arch"] == "resnet50"
    assert "val/loss" in teacher.data.metrics and "best/val/accuracy" in teacher.data.metrics
    assert {a.path for a in client.list_artifacts(teacher.info.run_id)} >= {"model", "plots"}

    assert ran(run(["dvc", "repro"], repo, env).stdout) == set()

    labeled_before = (repo / "data/splits/labeled.npy").read_bytes()
    out = run(["dvc", "exp", "run", "-S", "unlabeled_size=60"], repo, env).stdout
    assert ran(out) == {"split", "pretrain_simclr", "finetune_simclr", "distill", "evaluate"}
    assert (repo / "data/splits/labeled.npy").read_bytes() == labeled_before
    assert len((repo / "data/splits/unlabeled.csv").read_text().splitlines()) == 61
    _, runs = mlflow_runs(repo)
    assert any(r.data.tags.get("dvc_exp", "workspace") != "workspace" for r in runs)

    out = run(["dvc", "exp", "run", "-S", "teacher.lr=0.005"], repo, env).stdout
    assert ran(out) == {"train_teacher", "distill", "evaluate"}

    ssl = repo / "src/pawprint/ssl.py"
    ssl.write_text(ssl.read_text() + "\n# edited\n")
    status = run(["dvc", "status", "--json"], repo, env).stdout
    assert set(json.loads(status)) == {"pretrain_simclr"}
