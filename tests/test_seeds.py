"""`make seeds` / `pawprint seeds`: the commands it gives DVC and the table it writes."""

import sys

import pytest
import yaml

from pawprint.tools import seeds
from tests.helpers import ROOT, copy_repo, log_predictions, pipeline_env, run


def test_every_seed_gets_the_extra_overrides(monkeypatch):
    calls = []
    monkeypatch.setattr(seeds.subprocess, "run", lambda cmd, check, **kwargs: calls.append(cmd))
    dvc = [sys.executable, "-m", "dvc"]  # the environment's own, on PATH or not
    seeds.run_seed(2, "fp32-seed2", ["train.precision=32", "data.image_size=64"])
    assert calls == [
        [*dvc, "exp", "run", "--temp", "-n", "fp32-seed2", "-S", "seed=2", "-S", "train.precision=32",
         "-S", "data.image_size=64"]
    ]  # fmt: skip
    seeds.run_seed(0, "fast-seed0", [], target="evaluate")
    assert calls[-1] == [*dvc, "exp", "run", "--temp", "-n", "fast-seed0", "-S", "seed=0", "evaluate"]
    seeds.run_seed(1, "t2-seed1", ["distill.temperature=2"], start="c0ffee")  # an earlier experiment's commit
    assert calls[-3:] == [
        ["git", "checkout", "c0ffee", "--", "."],  # its results...
        ["git", "checkout", "HEAD", "--", "src", "stages", "dvc.yaml", "params.yaml"],  # ...under today's code
        [*dvc, "exp", "run", "--temp", "-n", "t2-seed1", "-S", "seed=1", "-S", "distill.temperature=2"],
    ]


def test_a_run_that_stops_before_evaluate_gets_no_table_of_the_commits_test_metrics(monkeypatch):
    monkeypatch.chdir(ROOT)  # this project's dvc.yaml
    assert seeds.reaches_evaluate(None) and seeds.reaches_evaluate("evaluate") and seeds.reaches_evaluate("report")
    assert not seeds.reaches_evaluate("train_teacher@vgg16") and not seeds.reaches_evaluate("export")
    ran = []
    monkeypatch.setattr(seeds, "run_seed", lambda *args: ran.append(args))
    monkeypatch.setattr(seeds, "experiments", lambda: pytest.fail("no table: evaluate did not run"))
    seeds.main(["--seeds", "0", "1", "--target", "train_teacher@vgg16"])
    assert [args[0] for args in ran] == [0, 1]


def test_table_has_mean_and_sample_std_per_model():
    results = {"a": {"kd": 0.90, "baseline": 0.80}, "b": {"kd": 0.94, "baseline": 0.84}}
    text = seeds.table(results, ["a", "b"], [0, 1], [1.0, 2.5])
    assert "| kd | 0.900 | 0.940 | 0.920 | 0.028 |" in text
    assert "| baseline | 0.800 | 0.840 | 0.820 | 0.028 |" in text
    footer = "(each from ref's run of its seed: only the stages that changed)"
    assert footer in seeds.table(results, ["a", "b"], [0, 1], [1.0, 2.5], start="ref") and footer not in text
    assert "Minutes per run: 1.0, 2.5" in text


def test_each_seeds_newest_run_of_a_label_is_compared_and_other_labels_are_not_mixed_in():
    names = ["fast-seed0-1122-100000", "fast-seed1-1122-100000", "fast-seed1-1124-090000", "fast-seed0-1124-090000",
             "fast-ensemble-seed0-1125-000000", "fast-ensemble-seed1-1125-000000", "seed0-1126-000000"]  # fmt: skip
    assert seeds.newest_per_seed("fast", names) == ["fast-seed0-1124-090000", "fast-seed1-1124-090000"]
    more = [*names, "fast-seed2-1124-100000", "fast-seed0-1123-000000"]  # seeds added later; an older rerun
    assert seeds.newest_per_seed("fast", more) == [
        "fast-seed0-1124-090000", "fast-seed1-1124-090000", "fast-seed2-1124-100000"
    ]  # fmt: skip
    with pytest.raises(SystemExit, match="no experiment is labelled 'fp32'"):
        seeds.newest_per_seed("fp32", names)
    with pytest.raises(SystemExit, match="one seed"):
        seeds.newest_per_seed("fast", ["fast-seed0-1124-090000"])


def test_comparison_says_whether_each_mean_is_within_one_std_of_the_reference():
    fast = [{"kd": 0.81, "baseline": 0.70, "vgg16": 0.5}, {"kd": 0.83, "baseline": 0.72, "vgg16": 0.5}]
    fp32 = [{"kd": 0.80, "baseline": 0.80}, {"kd": 0.84, "baseline": 0.82}]
    text = seeds.comparison("fast", fast, "fp32", fp32)
    assert "| kd | 0.820 ± 0.014 | 0.820 ± 0.028 | +0.000 | yes |" in text
    assert "| baseline | 0.710 ± 0.014 | 0.810 ± 0.014 | -0.100 | **no** |" in text
    assert "vgg16" not in text  # trained on one side only


TRUTH = ["cat", "dog"] * 100
FLIPPED = ["dog", "cat"] * 100
KD_WINS = {"baseline": TRUTH[:150] + FLIPPED[150:], "kd": TRUTH}  # KD right everywhere, the baseline on 3 of 4
KD_LOSES = {"baseline": TRUTH, "kd": FLIPPED}
PARAMS = {"unlabeled_size": 100, "data.source": "digits"}
FOUND = {"mine-seed0": {"baseline": 0.75, "kd": 1.0}, "mine-seed1": {"baseline": 0.75, "kd": 1.0}}  # exp show


def test_the_verdict_pairs_the_seeds_of_these_runs_only(isolated_env, monkeypatch):
    for seed in (0, 1):
        monkeypatch.setenv("DVC_EXP_NAME", f"mine-seed{seed}")
        log_predictions(isolated_env, TRUTH, KD_WINS, {"seed": seed, **PARAMS})
    monkeypatch.setenv("DVC_EXP_NAME", "other-seed2")  # another label's run, where KD is wrong everywhere
    log_predictions(isolated_env, TRUTH, KD_LOSES, {"seed": 2, **PARAMS})
    text = seeds.verdict(["mine-seed0", "mine-seed1"], [0, 1], FOUND)
    assert text.startswith("\n- digits, pool 100: kd beats the baseline by 25.0") and "in 2 of 2 seeds" in text
    assert seeds.verdict(["nothing-seed0"], [0], {"nothing-seed0": {"baseline": 0.5}}) == ""


def test_a_seed_restored_from_the_run_cache_is_judged_by_the_run_that_made_its_outputs(isolated_env, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "workspace")  # seed 0 ran in the workspace
    log_predictions(isolated_env, TRUTH, KD_WINS, {"seed": 0, **PARAMS})
    log_predictions(isolated_env, TRUTH, KD_LOSES, {"seed": 0, **PARAMS})  # newer, other outputs
    monkeypatch.setenv("DVC_EXP_NAME", "mine-seed1")
    log_predictions(isolated_env, TRUTH, KD_WINS, {"seed": 1, **PARAMS})
    text = seeds.verdict(["mine-seed0", "mine-seed1"], [0, 1], FOUND)  # mine-seed0 restored: no run of its own
    assert "kd beats the baseline by 25.0" in text and "in 2 of 2 seeds" in text


def test_compare_pairs_each_model_with_itself_under_the_other_label_on_the_same_test_images(isolated_env, monkeypatch):
    """`--compare A B`: per model, McNemar of A's predictions against B's, seed by seed, each seed's run found
    by its accuracies (so a seed restored from the run cache counts too); a model only one side has is left out."""
    a_runs = {"kd": TRUTH, "baseline": TRUTH[:150] + FLIPPED[150:]}  # in A, KD right everywhere
    b_runs = {"kd": TRUTH[:150] + FLIPPED[150:], "baseline": TRUTH[:150] + FLIPPED[150:], "vgg16": TRUTH}
    found = {}
    for label, models in (("fast", a_runs), ("ref", b_runs)):
        for seed in (0, 1):
            name = f"{label}-seed{seed}-1206-00000{seed}"
            monkeypatch.setenv("DVC_EXP_NAME", name)
            log_predictions(isolated_env, TRUTH, models, {"seed": seed, **PARAMS})
            found[name] = {m: sum(p == t for p, t in zip(pred, TRUTH)) / len(TRUTH) for m, pred in models.items()}
    names_a = ["fast-seed0-1206-000000", "fast-seed1-1206-000001"]
    names_b = ["ref-seed0-1206-000000", "ref-seed1-1206-000001"]
    paired = seeds.paired_tests("ref", names_a, names_b, found)
    assert set(paired) == {"kd", "baseline"}  # vgg16 is only in ref
    assert paired["kd"].startswith("kd beats ref by 25.0 ± 0.0 points, in 2 of 2 seeds (p = ")
    assert paired["baseline"] == (
        "baseline: no difference from ref beyond seed noise (+0.0 ± 0.0 points, better in 0 of 2 seeds, p = 1)."
    )
    text = seeds.comparison("fast", [found[n] for n in names_a], "ref", [found[n] for n in names_b], paired)
    assert "| paired test (McNemar, seeds pooled) |" in text.splitlines()[0]
    assert f"| kd | 1.000 ± 0.000 | 0.750 ± 0.000 | +0.250 | **no** | {paired['kd']} |" in text


@pytest.mark.slow
def test_from_a_label_reruns_only_the_stages_the_overrides_touch_and_restores_the_workspace(reproduced, tmp_path):
    repo = copy_repo(reproduced[0], tmp_path / "repo")
    env = pipeline_env(repo)
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    run(["git", "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/ref-seed0-1206-000000", head], repo)
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text() + "\n")
    refused = run(["pawprint", "seeds", "--from", "ref", "--seeds", "0"], repo, env, check=False)
    assert refused.returncode and "uncommitted changes to tracked files (params.yaml" in refused.stderr
    run(["git", "checkout", "params.yaml"], repo)

    other = yaml.safe_load((repo / "params.yaml").read_text())["distill"]["temperature"] + 1  # a change, always
    out = run(["pawprint", "seeds", "--label", "hot", "--from", "ref", "--seeds", "0", "--set",
               f"distill.temperature={other}", "--target", "distill@kd"], repo, env).stdout  # fmt: skip
    assert "the runs stopped at distill@kd, before evaluate: no test accuracies" in out  # not the commit's table
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], repo).stdout == ""
    name = next(line.split()[-1] for line in run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"],
                                                 repo).stdout.splitlines() if "/hot-seed0-" in line)  # fmt: skip
    before = yaml.safe_load(run(["git", "show", f"{head}:dvc.lock"], repo).stdout)["stages"]
    after = yaml.safe_load(run(["git", "show", f"{name}:dvc.lock"], repo).stdout)["stages"]
    assert after["distill@kd"]["params"]["params.yaml"]["distill"]["temperature"] == other
    assert "Running stage 'distill@kd'" in out and "Running stage 'train_teacher@resnet50'" not in out
    for stage in ("train_baseline", "train_teacher@resnet50", "pretrain_simclr@student"):
        assert after[stage] == before[stage]  # restored, not trained again
