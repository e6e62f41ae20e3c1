"""A client-side sliding-window rate limiter (pure: the clock is passed in).

WeCom limits each company to 10,000 calls a minute and 150,000 an hour per API; going over
earns errcode 45009 and can block the API for a while, so the adapter counts its own calls and
waits before the server has to say no.

Calls are counted in buckets of ``granularity`` seconds. A bucket counts against a window until
the whole bucket has left it, so the limiter may hold a call back up to one bucket early, never
let one through late: it errs on the side of the limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class _Window:
    seconds: float
    limit: int
    buckets: deque[list[float]] = field(default_factory=deque)  # [bucket start, count]
    total: int = 0

    def evict(self, now: float, granularity: float) -> None:
        while self.buckets and self.buckets[0][0] + granularity + self.seconds <= now:
            self.total -= int(self.buckets.popleft()[1])

    def wait(self, granularity: float, now: float) -> float:
        """Return how long until one more call fits (0 when it fits now)."""
        if self.total < self.limit:
            return 0.0
        freed = 0
        for start, count in self.buckets:  # the oldest buckets leave first
            freed += int(count)
            if self.total - freed < self.limit:
                return max(0.0, start + granularity + self.seconds - now)
        return self.seconds  # pragma: no cover - unreachable while total >= limit > 0

    def record(self, bucket: float) -> None:
        if self.buckets and self.buckets[-1][0] == bucket:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([bucket, 1])
        self.total += 1


class SlidingWindowLimiter:
    """Allow at most ``limit`` calls in any ``seconds``-long window, for each given window.

    ``SlidingWindowLimiter([(60, 10_000), (3600, 150_000)])`` is WeCom's per-API corp limit.
    Thread-safe; one instance counts one process's calls only.
    """

    def __init__(
        self,
        limits: Sequence[tuple[float, int]],
        *,
        clock: Callable[[], float] = time.monotonic,
        granularity: float = 1.0,
    ) -> None:
        if not limits:
            raise ValueError("give at least one (seconds, limit) window")
        for seconds, limit in limits:
            if seconds <= 0 or limit < 1:
                raise ValueError(f"a window needs seconds > 0 and limit >= 1, got {seconds, limit}")
        if granularity <= 0:
            raise ValueError("granularity must be more than 0")
        self._windows = [_Window(float(seconds), int(limit)) for seconds, limit in limits]
        self._clock = clock
        self._granularity = granularity
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        """Count one call and return 0.0 if it fits every window; else count nothing and
        return the seconds to wait before trying again."""
        with self._lock:
            now = self._clock()
            for window in self._windows:
                window.evict(now, self._granularity)
            wait = max(window.wait(self._granularity, now) for window in self._windows)
            if wait > 0:
                return wait
            bucket = math.floor(now / self._granularity) * self._granularity
            for window in self._windows:
                window.record(bucket)
            return 0.0

    def in_window(self, seconds: float) -> int:
        """Return the calls counted in the window of ``seconds`` (for tests and metrics)."""
        with self._lock:
            now = self._clock()
            for window in self._windows:
                window.evict(now, self._granularity)
                if window.seconds == seconds:
                    return window.total
        raise KeyError(seconds)
