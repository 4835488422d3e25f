"""`make seeds` / `python -m pawprint.seeds`: the commands it gives DVC and the table it writes."""

from pawprint import seeds


def test_every_seed_gets_the_extra_overrides(monkeypatch):
    calls = []
    monkeypatch.setattr(seeds.subprocess, "run", lambda cmd, check: calls.append(cmd))
    seeds.run_seed(2, "fp32-seed2", ["train.precision=32", "data.image_size=64"])
    assert calls == [
        ["dvc", "exp", "run", "--temp", "-n", "fp32-seed2", "-S", "seed=2", "-S", "train.precision=32",
         "-S", "data.image_size=64"]
    ]  # fmt: skip


def test_table_has_mean_and_sample_std_per_model():
    results = {"a": {"kd": 0.90, "baseline": 0.80}, "b": {"kd": 0.94, "baseline": 0.84}}
    text = seeds.table(results, ["a", "b"], [0, 1], [1.0, 2.5])
    assert "| kd | 0.900 | 0.940 | 0.920 | 0.028 |" in text
    assert "| baseline | 0.800 | 0.840 | 0.820 | 0.028 |" in text
    assert "Minutes per run: 1.0, 2.5" in text
