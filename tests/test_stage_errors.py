"""Bad input at the stage level: one line on stderr naming cause and fix, exit code 2, nothing lost."""

import os
import sys

import yaml

from tests.helpers import ROOT, run, tiny_params


def run_stage(name, repo, env):
    return run([sys.executable, str(ROOT / "stages" / f"{name}.py")], repo, env, check=False)


def setup(tmp_path, **override):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(**override)))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE_", "MLFLOW_", "PAWPRINT_"))}
    env.update(DVC_ROOT=str(tmp_path), HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home/.config"))
    return env


def test_kaggle_without_credentials_stops_with_one_line(tmp_path):
    env = setup(tmp_path, data={"source": "kaggle"})
    result = run_stage("prepare", tmp_path, env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: no Kaggle credentials: set KAGGLE_API_TOKEN")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "raw").exists()


def test_impossible_split_keeps_the_previous_splits(tmp_path):
    env = setup(tmp_path)
    assert run_stage("prepare", tmp_path, env).returncode == 0
    assert run_stage("split", tmp_path, env).returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "data" / "splits").iterdir()}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(data={"labeled_size": 1800})))
    result = run_stage("split", tmp_path, env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: class '0' has 178 images but the split needs 186")
    assert "images per class: 0: 178, 1: 182" in message
    assert {p.name: p.read_bytes() for p in (tmp_path / "data" / "splits").iterdir()} == before


def test_bad_param_stops_before_any_work(tmp_path):
    env = setup(tmp_path, distill={"alpha": 2})
    result = run_stage("prepare", tmp_path, env)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: params.yaml: distill.alpha = 2.0: must be between 0 and 1"
    assert not (tmp_path / "data").exists() and not (tmp_path / "mlruns").exists()


def test_a_bad_value_left_by_an_experiment_run_says_how_to_undo_it(tmp_path):
    """`dvc exp run -S distill.alpha=1.5` writes 1.5 into params.yaml and leaves it after failing, so the next
    `dvc exp run -S distill.temperature=2` fails on alpha too: the error names the committed value."""
    env = setup(tmp_path)
    commit = ["git", "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "params", "params.yaml"]
    run(["git", "init", "-q"], tmp_path)
    run(["git", "add", "params.yaml"], tmp_path)
    run(commit, tmp_path)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["distill"].update(alpha=1.5, temperature=2.0)  # the bad value an earlier -S left, and a new one
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_stage("split", tmp_path, env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: params.yaml: distill.alpha = 1.5: must be between 0 and 1")
    assert line.endswith(
        "(distill.alpha was 0.5): `dvc exp run -S` writes its values into params.yaml and keeps "
        "them after a failure; undo with `git checkout params.yaml` or -S distill.alpha=0.5"
    )

    run(commit, tmp_path)  # the bad value committed: there is no earlier value to offer
    [line] = run_stage("split", tmp_path, env).stderr.strip().splitlines()
    assert line == "error: params.yaml: distill.alpha = 1.5: must be between 0 and 1"
