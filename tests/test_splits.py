import numpy as np
import pytest

from pawprint.data.splits import SPLITS, SplitSizes, draw, per_class
from pawprint.errors import PawprintError

CLASSES = ["a", "b", "c"]
LABELS = np.repeat(np.arange(3), [50, 60, 40])


def sizes(unlabeled=20):
    return SplitSizes(test=30, val=9, labeled=12, unlabeled=unlabeled)


def test_balanced_disjoint_and_deterministic():
    out = draw(LABELS, CLASSES, sizes(), seed=3)
    for name in ("test", "val", "labeled"):
        assert np.bincount(LABELS[out[name]], minlength=3).tolist() == per_class(getattr(sizes(), name), 3)
    everything = np.concatenate([out[n] for n in SPLITS])
    assert len(everything) == len(set(everything.tolist())) == 30 + 9 + 12 + 20
    again = draw(LABELS, CLASSES, sizes(), seed=3)
    assert all(np.array_equal(out[n], again[n]) for n in SPLITS)
    other = draw(LABELS, CLASSES, sizes(), seed=4)
    assert not np.array_equal(out["labeled"], other["labeled"])


def test_labeled_splits_do_not_depend_on_unlabeled_size_and_pools_nest():
    small, large = draw(LABELS, CLASSES, sizes(10), 0), draw(LABELS, CLASSES, sizes(80), 0)
    for name in ("test", "val", "labeled"):
        assert np.array_equal(small[name], large[name])
    assert set(small["unlabeled"].tolist()) < set(large["unlabeled"].tolist())


def test_uneven_sizes_give_the_remainder_to_the_first_classes():
    assert per_class(10, 3) == [4, 3, 3]
    assert sum(per_class(5000, 2)) == 5000


def test_class_too_small_names_the_class_and_the_numbers():
    with pytest.raises(PawprintError) as info:
        draw(LABELS, CLASSES, SplitSizes(test=90, val=15, labeled=30, unlabeled=0), 0)
    text = str(info.value)
    assert "class 'c' has 40 images but the split needs 45" in text
    assert "a: 50, b: 60, c: 40" in text


def test_unlabeled_pool_too_large_says_how_many_are_left():
    with pytest.raises(PawprintError, match="only 99 images are left.*at most 99"):
        draw(LABELS, CLASSES, sizes(1000), 0)
