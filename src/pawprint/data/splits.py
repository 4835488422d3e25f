"""Balanced, deterministic, disjoint splits.

Test, val and labeled are drawn first, class by class, with a generator that nothing else touches, so they
never depend on `unlabeled_size`: changing the pool leaves those files byte-identical and DVC skips every
stage that reads only them (teacher, baseline). The unlabeled pool comes from one fixed shuffle of what is
left, ignoring labels, and takes its first `unlabeled_size` images: a pool of 3,000 is inside the pool of
6,000, so comparisons across pool sizes differ only in how much unlabeled data there is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pawprint.errors import PawprintError

LABELED_SPLITS = ("test", "val", "labeled")
SPLITS = (*LABELED_SPLITS, "unlabeled")


@dataclass(frozen=True)
class SplitSizes:
    test: int
    val: int
    labeled: int
    unlabeled: int


def per_class(total: int, num_classes: int) -> list[int]:
    """`total` spread as evenly as possible; the first classes take the remainder."""
    base, extra = divmod(total, num_classes)
    return [base + (1 if c < extra else 0) for c in range(num_classes)]


def draw(labels: np.ndarray, class_names: list[str], sizes: SplitSizes, seed: int) -> dict[str, np.ndarray]:
    """Indices into `labels` for each split, each sorted; `labels` must be in a deterministic order."""
    num_classes = len(class_names)
    quotas = {name: per_class(getattr(sizes, name), num_classes) for name in LABELED_SPLITS}
    counts = np.bincount(labels, minlength=num_classes)
    for c, name in enumerate(class_names):
        need = sum(quotas[s][c] for s in LABELED_SPLITS)
        if counts[c] < need:
            detail = ", ".join(f"{s} {quotas[s][c]}" for s in LABELED_SPLITS)
            have = ", ".join(f"{n}: {k}" for n, k in zip(class_names, counts))
            raise PawprintError(
                f"class {name!r} has {counts[c]} images but the split needs {need} of it ({detail}); "
                f"images per class: {have}; lower data.test_size / data.val_size / data.labeled_size"
            )
    rng = np.random.default_rng([seed, 0])
    out: dict[str, list[int]] = {name: [] for name in LABELED_SPLITS}
    rest: list[int] = []
    for c in range(num_classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for name in LABELED_SPLITS:
            out[name].extend(members[start : start + quotas[name][c]])
            start += quotas[name][c]
        rest.extend(members[start:])
    left = np.sort(np.asarray(rest, dtype=np.int64))
    if sizes.unlabeled > len(left):
        raise PawprintError(
            f"unlabeled_size = {sizes.unlabeled}, but only {len(left)} images are left after test {sizes.test}, "
            f"val {sizes.val} and labeled {sizes.labeled} (images per class: "
            + ", ".join(f"{n}: {k}" for n, k in zip(class_names, counts))
            + f"); set unlabeled_size to at most {len(left)}"
        )
    pool = np.random.default_rng([seed, 1]).permutation(left)[: sizes.unlabeled]
    result = {name: np.sort(np.asarray(idx, dtype=np.int64)) for name, idx in out.items()}
    result["unlabeled"] = np.sort(pool)
    return result
