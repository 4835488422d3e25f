"""Sharing through real servers on loopback: an S3-compatible server (moto) as the DVC remote and a bare git
repository as the git remote. What one person reproduced, another pulls and does not recompute."""

import socket

import pytest

from tests.helpers import copy_repo, pipeline_env, run

pytestmark = pytest.mark.slow


@pytest.fixture
def s3(monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    creds = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in creds.items():
        monkeypatch.setenv(key, value)
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="pawprint")
    yield url
    server.stop()


def clone(origin, dst, env):
    run(["git", "clone", "-q", str(origin), str(dst)], dst.parent, env)
    run(["git", "config", "user.email", "b@example.com"], dst)
    run(["git", "config", "user.name", "b"], dst)
    return dst


def test_push_then_pull_elsewhere_recomputes_nothing(reproduced, s3, tmp_path):
    repo = copy_repo(reproduced[0], tmp_path / "a")
    env = pipeline_env(repo)
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], repo)
    run(["dvc", "remote", "add", "-d", "storage", "s3://pawprint/dvc-cache"], repo, env)
    run(["dvc", "remote", "modify", "storage", "endpointurl", s3], repo, env)
    run(["git", "commit", "-qam", "DVC remote"], repo)
    run(["git", "push", "-q", "origin", "main"], repo)
    run(["dvc", "push"], repo, env)

    b = clone(origin, tmp_path / "b", env)
    run(["dvc", "pull"], b, env)
    assert run(["dvc", "status", "--json"], b, env).stdout.strip() in ("{}", "")
    assert "Running stage" not in run(["dvc", "repro"], b, env).stdout
    assert (b / "models" / "students" / "kd.pt").read_bytes() == (repo / "models" / "students" / "kd.pt").read_bytes()
    out = run(["dvc", "repro", "-f", "-s", "evaluate"], b, env).stdout  # the pulled models, evaluated again
    assert "Running stage 'evaluate'" in out
    assert (b / "metrics" / "evaluate.json").read_text() == (repo / "metrics" / "evaluate.json").read_text()

    # An experiment shared through the git remote (its refs) and the DVC remote (its outputs).
    run(["dvc", "exp", "run", "-n", "faster-baseline", "-S", "baseline.lr=0.003", "train_baseline"], repo, env)
    metrics = (repo / "metrics" / "students" / "baseline.json").read_text()
    run(["dvc", "exp", "push", "origin", "faster-baseline"], repo, env)
    c = clone(origin, tmp_path / "c", env)
    assert "faster-baseline" in run(["dvc", "exp", "list", "origin"], c, env).stdout
    run(["dvc", "exp", "pull", "origin", "faster-baseline"], c, env)
    run(["dvc", "exp", "apply", "faster-baseline"], c, env)
    assert (c / "metrics" / "students" / "baseline.json").read_text() == metrics
    model = "models/students/baseline.pt"
    assert (c / model).read_bytes() == (repo / model).read_bytes()
    assert "Running stage" not in run(["dvc", "repro", "train_baseline"], c, env).stdout
