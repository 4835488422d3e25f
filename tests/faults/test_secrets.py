"""Secrets in the environment never reach MLflow, DVC's files, logs or reports: stages run with fake secrets
set, then every byte the run wrote is searched for them."""

from pathlib import Path

import pytest

from tests.helpers import pipeline_env, run

pytestmark = pytest.mark.slow

SECRETS = {
    "KAGGLE_API_TOKEN": "kgtok-5f3a9c1e7b",
    "KAGGLE_KEY": "kgkey-82d1e4a0c9",
    "AWS_SECRET_ACCESS_KEY": "awssecret-19fe77b2",
    "MY_SERVICE_TOKEN": "svctoken-6c0d3a",
    "DB_PASSWORD": "dbpass-a71e55",
}


def test_no_secret_in_anything_a_stage_writes(pipeline_repo):
    env = {**pipeline_env(pipeline_repo), **SECRETS}
    result = run(["dvc", "repro", "train_baseline"], pipeline_repo, env)
    logs = result.stdout + result.stderr
    files = [p for p in pipeline_repo.rglob("*") if p.is_file() and ".git" not in p.parts]
    assert any(p.name == "mlflow.db" for p in files) and any("artifacts" in p.parts for p in files)
    assert (pipeline_repo / "dvc.lock").exists()
    for name, value in SECRETS.items():
        assert value not in logs, f"{name} in the logs"
        leaked = [str(p.relative_to(pipeline_repo)) for p in files if value.encode() in Path(p).read_bytes()]
        assert not leaked, f"{name} found in {leaked}"
