"""Several processes through PyTorch DDP on CPU (gloo): only params and the environment change.

Under the real `dvc repro`, Lightning's launcher starts the second process; with `torchrun`, the README's
two-node commands run as two "nodes" on loopback. Either way each stage makes one MLflow run and one
checkpoint that loads in a single process, and each process trains on its own half of the data (SimCLR's
negatives gathered across both)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.faults.test_ui_loopback import free_port
from tests.helpers import pipeline_env, run

pytestmark = pytest.mark.slow


def distribute(repo: Path, **train) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"].update(strategy="ddp", batch_size=16, **train)
    # 64 images per split: 32 per process, two full batches each, nothing dropped.
    params["data"]["labeled_size"] = params["unlabeled_size"] = 64
    params["baseline"]["epochs"] = params["simclr"]["epochs"] = 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def check_stage(repo: Path, stage: str, out: str) -> None:
    """One finished MLflow run of 2 processes, 64 images an epoch in all, 32 printed by each process."""
    from mlflow.tracking import MlflowClient

    # Not anchored at a line start: the processes share the terminal with Lightning's progress bar.
    shares = re.findall(rf"{re.escape(stage)}: process (\d) of 2 trained on (\d+) of the (\d+) images", out)
    assert sorted(shares) == [("0", "32", "64"), ("1", "32", "64")], out
    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pawprint")
    [stage_run] = client.search_runs([experiment.experiment_id], f"tags.stage = '{stage}'")
    assert stage_run.info.status == "FINISHED" and stage_run.data.tags["processes"] == "2"
    images = client.get_metric_history(stage_run.info.run_id, "train/images")
    assert images and [m.value for m in images] == [64.0] * len(images)


def check_loads_on_one_device(path: Path) -> None:
    from pawprint import models

    model, meta = models.load(path)
    with torch.no_grad():
        logits = model(torch.rand(3, 3, meta["image_size"], meta["image_size"]))
    assert logits.shape == (3, len(meta["classes"]))


def test_two_processes_under_dvc_repro_then_two_torchrun_nodes(pipeline_repo):
    """SimCLR with 2 processes under `dvc repro`; then the README's two-node commands for the baseline, one
    process per "node", both on this machine, and `dvc commit` of what rank 0 wrote."""
    distribute(pipeline_repo, devices=2)
    env = {**pipeline_env(pipeline_repo), "OMP_NUM_THREADS": "1"}
    result = run(["dvc", "repro", "pretrain_simclr@student"], pipeline_repo, env)
    check_stage(pipeline_repo, "pretrain_simclr@student", result.stdout + result.stderr)
    check_loads_on_one_device(pipeline_repo / "models" / "pretrained" / "student.pt")

    distribute(pipeline_repo, devices=1, num_nodes=2)
    port = str(free_port())
    torchrun = [str(Path(sys.executable).parent / "torchrun"), "--nnodes", "2", "--nproc_per_node", "1"]
    nodes = [
        subprocess.Popen(
            [
                *torchrun,
                "--node_rank",
                str(rank),
                "--master_addr",
                "127.0.0.1",
                "--master_port",
                port,
                "stages/train_baseline.py",
            ],
            cwd=pipeline_repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    outs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outs
    check_stage(pipeline_repo, "train_baseline", "\n".join(outs))
    check_loads_on_one_device(pipeline_repo / "models" / "students" / "baseline.pt")
    run(["dvc", "commit", "-f", "train_baseline"], pipeline_repo, env)
    assert "changed" not in run(["dvc", "status", "train_baseline"], pipeline_repo, env).stdout
