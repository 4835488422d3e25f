"""Progress lines off a terminal: what is done and what is left, now and then, not once per item."""

import io

from pawprint import progress


def test_off_a_terminal_a_line_now_and_then_and_at_the_end(monkeypatch):
    clock = iter(range(0, 1000, 10))  # each item takes 10 s
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    assert list(progress.track(range(10), 10, "split: decoding", stream=out)) == list(range(10))
    lines = out.getvalue().splitlines()
    assert lines == [
        "split: decoding: 3 of 10 images (30%), about 70 s left",
        "split: decoding: 6 of 10 images (60%), about 40 s left",
        "split: decoding: 9 of 10 images (90%), about 10 s left",
        "split: decoding: 10 of 10 images in 100 s",
    ]


def test_a_quick_step_stays_quiet():
    out = io.StringIO()
    assert list(progress.track([1, 2], 2, "evaluate", stream=out)) == [1, 2] and out.getvalue() == ""
    assert list(progress.track([], 0, "evaluate", stream=out)) == []
