"""Killed for real: `kill -9` of a training stage mid-run, then a rerun that resumes and ends where an
uninterrupted run ends."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.helpers import ROOT, run, tiny_params

pytestmark = pytest.mark.slow


def stage(name: str, repo: Path, env: dict, wait: bool = True):
    cmd = [sys.executable, str(ROOT / "stages" / f"{name}.py")]
    if not wait:
        return subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return run(cmd, repo, env)


@pytest.fixture
def split_repo(tmp_path):
    params = tiny_params(
        baseline={"epochs": 12},
        train={"min_epochs": 12, "patience": 1},
        data={"labeled_size": 200, "image_size": 32, "cache_size": 36},
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PAWPRINT_PARAMS")}
    env["DVC_ROOT"] = str(tmp_path)
    stage("prepare", tmp_path, env)
    stage("split", tmp_path, env)
    return tmp_path, env


def weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def test_killed_training_resumes_to_the_same_weights(split_repo):
    repo, env = split_repo
    model = repo / "models" / "students" / "baseline.pt"
    stage("train_baseline", repo, env)
    reference = weights(model)
    reference_metrics = (repo / "metrics" / "students" / "baseline.json").read_text()
    model.unlink()
    resume = repo / ".cache" / "pawprint" / "resume" / "train_baseline"
    assert not [p for p in resume.iterdir() if p.is_dir()]  # a finished stage cleans up after itself

    proc = stage("train_baseline", repo, env, wait=False)
    deadline = time.time() + 300
    seen = set()
    while time.time() < deadline and len(seen) < 2 and proc.poll() is None:  # the second epoch's checkpoint
        for ckpt in resume.glob("*/last.ckpt"):
            seen.add(ckpt.stat().st_mtime_ns)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(seen) >= 2 and not model.exists()
    epoch = torch.load(next(resume.glob("*/last.ckpt")), weights_only=True)["epoch"]
    assert 1 <= epoch < 11, "killed mid-run"

    out = stage("train_baseline", repo, env)
    assert "train_baseline: resuming from" in out.stdout
    resumed = weights(model)
    assert reference and resumed.keys() == reference.keys()
    unequal = [k for k in reference if not torch.equal(reference[k], resumed[k])]
    assert unequal == []
    resumed_metrics = (repo / "metrics" / "students" / "baseline.json").read_text()
    assert resumed_metrics.split('"wall_time_s"')[0] == reference_metrics.split('"wall_time_s"')[0]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("pawprint")
    statuses = sorted(r.info.status for r in client.search_runs([exp.experiment_id], "tags.stage = 'train_baseline'"))
    assert statuses == ["FINISHED", "FINISHED", "KILLED"]
