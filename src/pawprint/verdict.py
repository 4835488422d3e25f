"""Is a difference real? Each method against the baseline on the same test images, in words, and which models
collapsed (a constant or near-chance predictor), so a broken model is never read as a result.

The paired test is McNemar's exact test: on the same images, only those that one model gets right and the
other wrong say anything about which is better, and without a difference each such image goes either way
with probability 1/2. Over several seeds the discordant images of every seed are pooled (each seed is a
fresh draw of training noise on the same test set), and the seeds are counted too: "in 3 of 3 seeds".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CHANCE_MARGIN = 0.02  # accuracy within this of chance: collapsed
ONE_CLASS_SHARE = 0.9  # one class given to more than this share of the test set: collapsed
SIGNIFICANCE = 0.05


def collapse(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> str | None:
    """Why this model is a collapsed predictor, in a few words, or None when it is not."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    chance = np.bincount(y_true, minlength=num_classes).max() / len(y_true)  # the best constant guess
    accuracy = float((y_true == y_pred).mean())
    share = np.bincount(y_pred, minlength=num_classes) / len(y_pred)
    if share.max() > ONE_CLASS_SHARE:
        return f"gives one class to {share.max():.0%} of the test set"
    if accuracy <= chance + CHANCE_MARGIN:
        return f"accuracy {accuracy:.1%} is within {CHANCE_MARGIN:.0%} of chance ({chance:.1%})"
    return None


def mcnemar_p(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value: the binomial test of the discordant pairs against 1/2."""
    a_only = int(np.sum(correct_a & ~correct_b))
    b_only = int(np.sum(~correct_a & correct_b))
    n, k = a_only + b_only, min(a_only, b_only)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Seed:
    """One seed's test predictions of a model and of the baseline, on the same test images."""

    y_true: np.ndarray
    model: np.ndarray
    baseline: np.ndarray


@dataclass(frozen=True)
class Comparison:
    name: str
    differences: list[float]  # accuracy points, model minus baseline, one per seed
    p_value: float
    collapsed: list[str]  # one reason per collapsed seed (the model's or the baseline's)

    @property
    def mean(self) -> float:
        return statistics.mean(self.differences)

    @property
    def std(self) -> float:
        return statistics.stdev(self.differences) if len(self.differences) > 1 else 0.0

    @property
    def wins(self) -> int:
        return sum(d > 0 for d in self.differences)

    @property
    def real(self) -> bool:
        """A win or a loss that seed noise does not explain, by a model that learned."""
        return not self.collapsed and self.p_value < SIGNIFICANCE

    def sentence(self, baseline: str = "the baseline") -> str:
        n = len(self.differences)
        spread = f" ± {self.std:.1f}" if n > 1 else ""
        seeds = f"in {self.wins} of {n} seeds" if n > 1 else "on one seed (run `make seeds` for several)"
        if self.collapsed:
            return f"{self.name}: not compared, it collapsed ({'; '.join(self.collapsed)})."
        if not self.real:
            return (
                f"{self.name}: no difference from {baseline} beyond seed noise "
                f"({self.mean:+.1f}{spread} points, better {seeds}, p = {self.p_value:.2g})."
            )
        verb = "beats" if self.mean > 0 else "is below"
        return (
            f"{self.name} {verb} {baseline} by {abs(self.mean):.1f}{spread} points, {seeds} (p = {self.p_value:.2g})."
        )


def compare(name: str, seeds: Sequence[Seed], num_classes: int, baseline: str = "baseline") -> Comparison:
    """`name` against the baseline over `seeds` (each on the same test images as its baseline)."""
    collapsed = []
    for i, s in enumerate(seeds):
        for who, pred in ((name, s.model), (baseline, s.baseline)):
            if reason := collapse(s.y_true, pred, num_classes):
                collapsed.append(f"{who} {reason}" + (f" in seed {i + 1}" if len(seeds) > 1 else ""))
    correct = np.concatenate([s.model == s.y_true for s in seeds])
    correct_base = np.concatenate([s.baseline == s.y_true for s in seeds])
    differences = [100 * float(np.mean(s.model == s.y_true) - np.mean(s.baseline == s.y_true)) for s in seeds]
    return Comparison(name, differences, mcnemar_p(correct, correct_base), collapsed)
