"""The study across runs, read back from a real MLflow store: grouping, dedup of pool-free models, output."""

import statistics

from pawprint import study, tracking
from pawprint.cli import main
from tests.helpers import log_predictions


def log_evaluate(seed: int, pool: int, accs: dict[str, float], source: str = "digits") -> None:
    with tracking.stage_run("evaluate", {"seed": seed, "unlabeled_size": pool, "data.source": source}) as run:
        run.set_tags({"method/kd": "KD from resnet50", "uses_pool/kd": "true", "uses_pool/baseline": "false"})
        metrics = {}
        for model, acc in accs.items():
            metrics |= {f"test/{model}/accuracy": acc, f"test/{model}/macro_f1": acc - 0.01}
            metrics |= {f"test/{model}/class/cat/accuracy": acc, f"train/{model}/best_epoch": 4.0}
        run.log_metrics(metrics)


def test_study_groups_by_method_and_pool_and_counts_shared_models_once(isolated_env, capsys):
    for seed in (0, 1):
        for pool in (100, 300):
            log_evaluate(seed, pool, {"kd": 0.5 + pool / 1000 + seed / 100, "baseline": 0.4 + seed / 100})
    log_evaluate(0, 100, {"kd": 0.99, "baseline": 0.99}, source="cifar10")
    cells = {(c.model, c.unlabeled_size): c for c in study.from_mlflow("digits")}
    assert set(cells) == {("kd", 100), ("kd", 300), ("baseline", None)}
    assert sorted(cells["kd", 300].metrics["accuracy"]) == [0.8, 0.81]
    assert cells["kd", 300].method == "KD from resnet50"
    assert len(cells["baseline", None].metrics["accuracy"]) == 2  # once per seed, not once per pool size
    text = study.markdown(list(cells.values()))
    mean = 100 * statistics.mean([0.6, 0.61])
    assert f"| digits | KD from resnet50 | kd | 100 | 2 | {mean:.1f} ± 0.7 |" in text

    main(["report", "--source", "digits", "--out", str(isolated_env / "study")])
    assert (isolated_env / "study" / "accuracy_vs_unlabeled.png").stat().st_size > 5000
    assert "| kd | 300 | -/-/-/80.5 |" in capsys.readouterr().out  # per class: P/R/F1/accuracy, "-" if absent
    assert (isolated_env / "study" / "summary.md").read_text().count("| digits |") == 3


def test_report_without_runs_is_one_line(isolated_env, capsys):
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["report", "--out", str(isolated_env / "study")])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().startswith("error: no finished evaluate runs")


def test_the_verdict_over_seeds_pairs_each_model_with_the_baseline_on_the_same_images(isolated_env, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    truth = np.array(["cat", "dog"])[np.arange(300) % 2]

    def guesses(accuracy: float) -> list[str]:
        right = rng.random(len(truth)) < accuracy
        return [t if ok else ("dog" if t == "cat" else "cat") for t, ok in zip(truth, right)]

    for seed in (0, 1, 2):
        models = {"baseline": guesses(0.6), "kd": guesses(0.85), "vgg16": ["cat"] * len(truth)}
        log_predictions(isolated_env, truth, models, {"seed": seed, "unlabeled_size": 100, "data.source": "digits"})
    main(["report", "--out", str(isolated_env / "study")])
    out, err = capsys.readouterr()
    assert "Downloading artifacts" not in err  # no download bar per seed when not on a terminal
    lines = [line for line in out.splitlines() if line.startswith("- digits, pool 100")]
    assert lines[0].startswith("- digits, pool 100: kd beats the baseline by ") and "in 3 of 3 seeds" in lines[0]
    assert lines[1].startswith("- digits, pool 100: vgg16: not compared, it collapsed (vgg16 gives one class")
    assert lines[0][2:] in (isolated_env / "study" / "summary.md").read_text()
