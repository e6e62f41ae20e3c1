"""The sliding-window limiter, on an injected clock."""

from __future__ import annotations

import threading

import pytest

from campaign.messages.channels.ratelimit import SlidingWindowLimiter


class Ticker:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_allows_up_to_the_limit_then_says_how_long_to_wait() -> None:
    clock = Ticker(1000.0)
    limiter = SlidingWindowLimiter([(10, 3)], clock=clock)
    assert [limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire() == 11.0  # the bucket [1000, 1001) leaves the window at 1011
    assert limiter.in_window(10) == 3  # a refused call is not counted
    clock.now = 1010.99
    assert limiter.try_acquire() == pytest.approx(0.01)
    clock.now = 1011.0
    assert limiter.try_acquire() == 0.0
    assert limiter.in_window(10) == 1


def test_the_window_slides() -> None:
    clock = Ticker(0.0)
    limiter = SlidingWindowLimiter([(60, 10)], clock=clock)
    for _ in range(5):
        assert limiter.try_acquire() == 0.0
    clock.now = 30.0
    for _ in range(5):
        assert limiter.try_acquire() == 0.0
    clock.now = 45.0
    assert limiter.try_acquire() == 16.0  # the five calls of t=0 leave at 61
    clock.now = 61.0
    for _ in range(5):
        assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == 30.0  # next room: the calls of t=30 leave at 91


def test_every_window_holds() -> None:
    clock = Ticker(0.0)
    limiter = SlidingWindowLimiter([(60, 10), (3600, 25)], clock=clock)
    acquired = 0
    for minute in range(10):
        clock.now = minute * 61.0
        while limiter.try_acquire() == 0.0:
            acquired += 1
    assert acquired == 25  # 10 + 10 + 5: the hour's limit stops the third minute
    assert limiter.in_window(3600) == 25
    assert limiter.try_acquire() == pytest.approx(3601 - clock.now)


def test_wecom_scale() -> None:
    clock = Ticker(0.0)
    limiter = SlidingWindowLimiter([(60, 10_000), (3600, 150_000)], clock=clock)
    for n in range(10_000):
        clock.now = n * 0.005  # 10,000 calls in 50 s
        assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() > 0
    clock.now = 61.0
    assert limiter.try_acquire() == 0.0


def test_threads_never_exceed_the_limit() -> None:
    limiter = SlidingWindowLimiter([(60, 1000)], clock=Ticker())
    granted: list[int] = []

    def run() -> None:
        mine = sum(1 for _ in range(500) if limiter.try_acquire() == 0.0)
        granted.append(mine)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 1000


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter([])
    with pytest.raises(ValueError):
        SlidingWindowLimiter([(0, 10)])
    with pytest.raises(ValueError):
        SlidingWindowLimiter([(60, 0)])
    with pytest.raises(ValueError):
        SlidingWindowLimiter([(60, 1)], granularity=0)
    with pytest.raises(KeyError):
        SlidingWindowLimiter([(60, 1)]).in_window(30)
