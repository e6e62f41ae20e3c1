"""One clock for the whole engine: real, frozen or warped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaign.clock import FrozenClock, SystemClock, WarpedClock, clock_from_config


def test_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock(datetime(2026, 12, 7, tzinfo=UTC))
    assert clock.now() == clock.now()
    assert clock.advance(timedelta(hours=1)) == datetime(2026, 12, 7, 1, tzinfo=UTC)


def test_warped_clock_runs_fast_from_its_anchor() -> None:
    real = datetime.now(UTC) - timedelta(seconds=60)
    virtual = datetime(2026, 12, 7, tzinfo=UTC)
    clock = WarpedClock(1440, virtual, real)
    elapsed = clock.now() - virtual
    assert timedelta(hours=23, minutes=59) < elapsed < timedelta(hours=24, minutes=30)
    assert clock.sleep_seconds(timedelta(days=1)) == 60


def test_processes_share_a_warped_clock_through_its_anchor() -> None:
    first = WarpedClock(60, datetime(2026, 12, 7, tzinfo=UTC))
    second = clock_from_config({"CLOCK_SPEED": "60", "CLOCK_ANCHOR": first.anchor()})
    assert isinstance(second, WarpedClock)
    assert abs(second.now() - first.now()) < timedelta(seconds=5)


def test_default_is_the_system_clock() -> None:
    assert isinstance(clock_from_config({}), SystemClock)
    start = clock_from_config({"CLOCK_START": "2026-12-07T00:00:00+08:00"})
    assert abs(start.now() - datetime(2026, 12, 6, 16, tzinfo=UTC)) < timedelta(seconds=5)
