"""Progress of the long steps outside training (decoding a folder, labelling cached views, evaluating, exporting,
downloading): what is done and what is left. On a terminal, a tqdm bar; in a log (DVC's output captured, CI) a
plain line now and then, so the log stays readable. Training has Lightning's own bar.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
LOG_EVERY_S = 30.0  # off a terminal: one line this often, and at the end


def track(items: Iterable[T], total: int, what: str, unit: str = "images", stream=None) -> Iterator[T]:
    """Yield `items` while reporting `what` (e.g. "split: decoding") against `total` `unit`s."""
    stream = stream or sys.stderr
    if stream.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=what, unit=f" {unit}", file=stream, leave=False)
        return
    start = last = now = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= LOG_EVERY_S and done < total:
            left = (now - start) / done * (total - done)
            print(f"{what}: {done:,} of {total:,} {unit} ({done / total:.0%}), about {left:.0f} s left",
                  file=stream, flush=True)  # fmt: skip
            last = now
    if total and now - start >= LOG_EVERY_S:
        print(f"{what}: {done:,} of {total:,} {unit} in {now - start:.0f} s", file=stream, flush=True)
