"""The real `dvc repro` / `dvc exp run` on the embedded digits with a tiny config, in a throw-away git repo:
every method's stage, what a change reruns, the reports and the MLflow runs."""

import json

import pytest
import torch

from tests.helpers import copy_repo, dirty, pipeline_env, ran, run

# `early`: the suite's critical path (the `reproduced` fixture, then its two longest users) starts at once
# on the first test worker (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.early]

TEACHERS = {"train_teacher@resnet50", "train_teacher@second"}
POOL = {
    "split",
    "pretrain_simclr@student",
    "finetune_simclr@student",
    "pretrain_simclr@ssl_teacher",
    "finetune_simclr@ssl_teacher",
    "distill@kd",
    "distill@kd_ensemble",
    "distill@kd_ssl_teacher",
    "distill_hybrid",
    "evaluate",
    "export",
    "report",
}
ALL = {"prepare", "train_baseline", *TEACHERS, *POOL}
MODELS = ["baseline", "simclr", "kd", "kd_ensemble", "kd_ssl_teacher", "hybrid", "resnet50", "second", "ssl_teacher"]


# The change tests run part of what a change dirties and ask DVC for the rest (`dvc status`, what the next
# `dvc repro` would run): what the change reruns is both sets, without minutes of stage processes per test.
AFTER_EVALUATE = {"export", "report"}


def mlflow_runs(repo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("pawprint")
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def test_every_method_is_trained_evaluated_and_reported(reproduced, tmp_path):
    repo = copy_repo(reproduced[0], tmp_path / "repo")
    assert ran(reproduced[1]) == ALL
    results = json.loads((repo / "reports" / "test_metrics.json").read_text())
    assert results["order"] == MODELS
    summary = (repo / "reports" / "summary.md").read_text()
    for name in MODELS:
        entry = results["models"][name]
        assert f"| {name} |" in summary and entry["method"] in summary
        assert sum(map(sum, entry["test"]["confusion_matrix"])) == 40
        assert (repo / "reports" / "figures" / "confusion" / f"{name}.png").stat().st_size > 1000
        assert json.loads((repo / "metrics" / f"{entry['kind']}s" / f"{name}.json").read_text())["best_epoch"] >= 1
    assert results["models"]["kd_ensemble"]["method"] == "KD from resnet50 + second"
    assert results["models"]["kd"]["unlabeled_size"] == 40 and results["models"]["baseline"]["unlabeled_size"] is None
    for figure in ("accuracy", "per_class", "curves", "accuracy_vs_unlabeled"):
        assert (repo / "reports" / "figures" / f"{figure}.png").stat().st_size > 5000

    # The hybrid starts from the SimCLR backbone; the plain KD student does not.
    def backbone(path):
        return torch.load(repo / path, weights_only=True)["state_dict"]["backbone.0.0.0.weight"]

    pretrained = backbone("models/pretrained/student.pt")
    hybrid, kd = backbone("models/students/hybrid.pt"), backbone("models/students/kd.pt")
    assert (hybrid - pretrained).abs().mean() < (kd - pretrained).abs().mean()

    client, runs = mlflow_runs(repo)
    [parent] = [r for r in runs if r.data.tags["stage"] == "pipeline"]  # one `dvc repro`: one parent run
    stages = [r for r in runs if r is not parent]
    assert sorted(r.data.tags["stage"] for r in stages) == sorted(ALL)
    assert {r.data.tags["mlflow.parentRunId"] for r in stages} == {parent.info.run_id}
    assert parent.info.status == "FINISHED" and parent.data.tags["dvc_exp"] == "workspace"
    teacher = next(r for r in runs if r.data.tags["stage"] == "train_teacher@resnet50")
    assert teacher.data.params["teachers.resnet50.arch"] == "resnet50"
    assert "val/loss" in teacher.data.metrics and "best/val/accuracy" in teacher.data.metrics
    assert {a.path for a in client.list_artifacts(teacher.info.run_id)} >= {"model", "plots"}
    evaluate = next(r for r in runs if r.data.tags["stage"] == "evaluate")
    assert evaluate.data.metrics["test/kd/accuracy"] == results["models"]["kd"]["test"]["accuracy"]
    assert evaluate.data.tags["uses_pool/kd"] == "true" and evaluate.data.tags["uses_pool/baseline"] == "false"


def test_a_change_reruns_only_the_stages_that_depend_on_it(reproduced, tmp_path):
    repo = copy_repo(reproduced[0], tmp_path / "repo")
    env = pipeline_env(repo)
    assert ran(run(["dvc", "repro"], repo, env).stdout) == set()

    # An ensemble weight concerns that student alone among the trainings; evaluate and export read
    # `distill_runs` too (the method names, which students exist), so they are dirty as well.
    params = repo / "params.yaml"
    before = params.read_text()
    params.write_text(before.replace("second: 1.0", "second: 3.0"))
    assert dirty(repo, env) == {"distill@kd_ensemble", "evaluate", "export"}
    params.write_text(before)

    ssl = repo / "src/pawprint/ssl.py"
    source = ssl.read_text()
    ssl.write_text(source + "\n# edited\n")
    assert dirty(repo, env) == {"pretrain_simclr@student", "pretrain_simclr@ssl_teacher"}
    ssl.write_text(source)

    # Both routes through the new pool, SimCLR and KD from the supervised teacher, run as an experiment; the
    # teacher the KD student reads is not retrained, and the rest of the pool's stages are left to run. A
    # distilled student depends on the whole `models/teachers` folder (DVC cannot take a list of teachers per
    # run as deps), so the self-supervised teacher, which learns from the pool, is retrained before it.
    labeled_before = (repo / "data/splits/labeled.npy").read_bytes()
    targets = ["finetune_simclr@student", "distill@kd"]
    out = run(["dvc", "exp", "run", "-S", "unlabeled_size=60", *targets], repo, env).stdout
    ssl_teacher = {"pretrain_simclr@ssl_teacher", "finetune_simclr@ssl_teacher"}
    routes = {"split", "pretrain_simclr@student", *ssl_teacher, *targets}
    assert ran(out) == routes
    assert dirty(repo, env) == POOL - routes  # never the supervised teachers nor the baseline
    assert (repo / "data/splits/labeled.npy").read_bytes() == labeled_before
    assert len((repo / "data/splits/unlabeled.csv").read_text().splitlines()) == 61
    _, runs = mlflow_runs(repo)
    [exp_parent] = [r for r in runs if r.data.tags["stage"] == "pipeline" and r.data.tags["dvc_exp"] != "workspace"]
    nested = {r.data.tags["stage"] for r in runs if r.data.tags.get("mlflow.parentRunId") == exp_parent.info.run_id}
    assert nested == routes  # the experiment's stage runs, under its own parent


def test_a_new_teacher_is_a_new_stage_and_a_changed_one_reruns_its_students(reproduced, tmp_path):
    import yaml

    repo = copy_repo(reproduced[0], tmp_path / "repo")
    env = pipeline_env(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["teachers"]["second"]["lr"] = 0.005
    params["teachers"]["third"] = {**params["teachers"]["second"], "lr": 0.01}
    params["distill_runs"] = {
        "kd_ensemble": params["distill_runs"]["kd_ensemble"],
        "kd_third": {"teachers": {"third": 1.0}},
    }
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    out = run(["dvc", "repro", "evaluate"], repo, env).stdout
    teachers = {"train_teacher@second", "train_teacher@third"}  # resnet50 is unchanged: not retrained
    students = {"distill@kd_ensemble", "distill@kd_third", "distill_hybrid"}
    assert ran(out) == {*teachers, *students, "evaluate"}
    assert dirty(repo, env) == AFTER_EVALUATE
    order = json.loads((repo / "reports" / "test_metrics.json").read_text())["order"]
    assert order == [
        "baseline",
        "simclr",
        "kd_ensemble",
        "kd_third",
        "hybrid",
        "resnet50",
        "second",
        "third",
        "ssl_teacher",
    ]
