"""`pawprint bench` times the data path a study runs: its augmentation comes from the study's preset."""

import yaml

from pawprint.tools import bench, presets
from tests.helpers import ROOT


def test_the_bench_augments_as_the_chosen_study_does():
    defaults = yaml.safe_load((ROOT / "params.yaml").read_text())["augment"]
    for name in presets.available():
        overrides = presets.load(name).overrides
        got = bench.preset_augmentation(name)
        for key in ("min_scale", "hflip", "translate"):
            assert getattr(got, key) == overrides.get(f"augment.{key}", defaults[key]), (name, key)
    cifar10 = bench.preset_augmentation("cifar10")  # what make bench's 32 px rows time: flips, no crop
    assert (cifar10.min_scale, cifar10.hflip) == (1.0, True)
