"""The paired test and the collapse flag, on constructed predictions whose answer is known."""

import numpy as np
import pytest

from pawprint.verdict import Seed, collapse, compare, mcnemar_p

RNG = np.random.default_rng


def predictions(y: np.ndarray, accuracy: float, rng, num_classes: int = 10) -> np.ndarray:
    """Right on a random `accuracy` share of the images, a wrong class elsewhere."""
    right = rng.random(len(y)) < accuracy
    return np.where(right, y, (y + rng.integers(1, num_classes, len(y))) % num_classes)


def test_mcnemar_matches_the_exact_binomial_test():
    a = np.array([True] * 10 + [False] * 2 + [True] * 20)
    b = np.array([False] * 10 + [True] * 2 + [True] * 20)
    # 12 discordant pairs, 10 against 2: P(X <= 2 | n=12, p=1/2) = 79/4096, two-sided twice that
    assert mcnemar_p(a, b) == pytest.approx(2 * 79 / 4096)
    assert mcnemar_p(a, a) == 1.0


def test_two_identical_models_show_no_difference():
    rng = RNG(0)
    y = rng.integers(0, 10, 500)
    seeds = [Seed(y, p, p.copy()) for p in (predictions(y, 0.8, rng) for _ in range(3))]
    result = compare("kd", seeds, 10)
    assert result.differences == [0.0, 0.0, 0.0] and result.p_value == 1.0 and not result.real
    assert result.sentence().startswith("kd: no difference from the baseline beyond seed noise")


def test_a_planted_difference_is_found_and_written_out():
    rng = RNG(1)
    y = rng.integers(0, 10, 500)
    seeds = [Seed(y, predictions(y, 0.9, rng), predictions(y, 0.8, rng)) for _ in range(3)]
    result = compare("kd", seeds, 10)
    assert result.real and result.wins == 3 and 5 < result.mean < 15 and result.p_value < 1e-6
    assert result.sentence().startswith(f"kd beats the baseline by {result.mean:.1f} ± {result.std:.1f} points")
    assert "in 3 of 3 seeds" in result.sentence()
    worse = compare("simclr", [Seed(s.y_true, s.baseline, s.model) for s in seeds], 10)
    assert worse.real and worse.sentence().startswith("simclr is below the baseline by")


def test_a_small_difference_on_one_seed_is_seed_noise():
    rng = RNG(2)
    y = rng.integers(0, 10, 200)
    base = predictions(y, 0.8, rng)
    model = base.copy()
    flip = np.flatnonzero(model != y)[:3]  # three more right answers out of 200
    model[flip] = y[flip]
    result = compare("kd", [Seed(y, model, base)], 10)
    assert result.differences == [pytest.approx(1.5)] and not result.real
    assert "on one seed" in result.sentence()


def test_a_constant_predictor_is_flagged_and_left_out_of_wins():
    y = np.repeat(np.arange(10), 50)
    constant = np.full(500, 3)
    assert collapse(y, constant, 10) == "gives one class to 100% of the test set"
    near_chance = np.where(np.arange(500) < 55, y, (y + 1) % 10)  # 11% right, every class predicted
    assert collapse(y, near_chance, 10) == "accuracy 11.0% is within 2% of chance (10.0%)"
    rng = RNG(3)
    assert collapse(y, predictions(y, 0.6, rng), 10) is None
    result = compare("vgg16", [Seed(y, constant, predictions(y, 0.8, rng))], 10)
    assert not result.real and result.sentence() == (
        "vgg16: not compared, it collapsed (vgg16 gives one class to 100% of the test set)."
    )
