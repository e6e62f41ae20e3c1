"""The one source of "now": real time, a frozen clock for tests, a warped clock for demos.

Code that needs the time takes a clock (or a ``now``) instead of calling ``datetime.now``, so
tests pin it and a demo can run a camp day in a minute through the real engine. Several
processes (dispatcher, workers) share a warped clock by sharing its anchor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    """Anything that tells the current instant (aware, UTC)."""

    def now(self) -> datetime: ...

    def sleep_seconds(self, virtual: timedelta) -> float:
        """Return how many real seconds pass while ``virtual`` time passes on this clock."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep_seconds(self, virtual: timedelta) -> float:
        return virtual.total_seconds()


@dataclass
class FrozenClock:
    """A clock that moves only when told to (tests)."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward and return the new time."""
        self.current += delta
        return self.current

    def sleep_seconds(self, virtual: timedelta) -> float:
        return 0.0


@dataclass
class WarpedClock:
    """Time that runs ``speed`` times faster than real time from an anchor.

    ``now = virtual_anchor + (real_now - real_anchor) * speed``; at speed 1440 a camp day
    passes in a real minute.
    """

    speed: float
    virtual_anchor: datetime
    real_anchor: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        elapsed = datetime.now(UTC) - self.real_anchor
        return self.virtual_anchor + elapsed * self.speed

    def sleep_seconds(self, virtual: timedelta) -> float:
        return virtual.total_seconds() / self.speed

    def anchor(self) -> str:
        """Return the anchor as text, for child processes to share this clock."""
        return f"{self.real_anchor.isoformat()}|{self.virtual_anchor.isoformat()}"


def clock_from_config(config: Mapping[str, Any]) -> Clock:
    """Build the clock the configuration asks for.

    ``CLOCK_SPEED`` (from ``CAMPAIGN_CLOCK_SPEED``) above 1 warps time; ``CLOCK_ANCHOR``
    (``"<real iso>|<virtual iso>"``) makes several processes share one warped timeline, and
    ``CLOCK_START`` (an ISO instant) says where virtual time starts when there is no anchor.
    """
    speed = float(config.get("CLOCK_SPEED") or 1)
    if speed == 1 and not config.get("CLOCK_START"):
        return SystemClock()
    anchor = config.get("CLOCK_ANCHOR")
    if anchor:
        real, virtual = str(anchor).split("|", 1)
        return WarpedClock(speed, _aware(virtual), _aware(real))
    start = config.get("CLOCK_START")
    virtual_start = _aware(str(start)) if start else datetime.now(UTC)
    return WarpedClock(speed, virtual_start)


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
