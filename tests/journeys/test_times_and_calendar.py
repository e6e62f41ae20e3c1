"""Camp times, durations and the cohort calendar (time zones, quiet hours)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from campaign.journeys.calendar import (
    camp_time_of,
    shift_camp_time,
    shift_out_of_quiet_hours,
    to_utc,
    zone,
)
from campaign.journeys.spec import DEFAULT_QUIET_HOURS, CampTime, QuietHours
from campaign.journeys.times import (
    TimeSyntaxError,
    format_duration,
    parse_camp_time,
    parse_camp_times,
    parse_clock,
    parse_duration,
)

SHANGHAI = zone("Asia/Shanghai")
STARTS_ON = date(2026, 12, 7)  # a Monday


def test_camp_days_skip_d0() -> None:
    assert parse_camp_time("D-1 20:00").day_index == -1
    assert parse_camp_time("D1 00:00").absolute_minutes == 0
    assert CampTime.from_absolute_minutes(-1) == CampTime(-1, 1439)
    assert CampTime.from_absolute_minutes(1440) == CampTime(2, 0)
    with pytest.raises(TimeSyntaxError, match="D0"):
        parse_camp_time("D0 10:00")


def test_day_ranges_expand_to_one_time_per_day() -> None:
    assert parse_camp_times("D-2..D2 08:30") == [
        CampTime(-2, 510),
        CampTime(-1, 510),
        CampTime(1, 510),
        CampTime(2, 510),
    ]
    with pytest.raises(TimeSyntaxError, match="backwards"):
        parse_camp_times("D4..D1 08:30")


@pytest.mark.parametrize("text", ["24:00", "7:60", "noon", "-1:00"])
def test_bad_clocks(text: str) -> None:
    with pytest.raises(TimeSyntaxError):
        parse_clock(text)


def test_durations_round_trip() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration(45) == timedelta(minutes=45)
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    for bad in ("", "h", "2 hours", "1.5h"):
        with pytest.raises(TimeSyntaxError):
            parse_duration(bad)


def test_camp_time_to_utc_in_the_cohort_timezone() -> None:
    assert to_utc(STARTS_ON, CampTime(1, 21 * 60), SHANGHAI) == datetime(
        2026, 12, 7, 13, tzinfo=UTC
    )
    eve = to_utc(STARTS_ON, CampTime(-1, 20 * 60), SHANGHAI)
    assert eve == datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert camp_time_of(STARTS_ON, eve, SHANGHAI) == CampTime(-1, 20 * 60)


def test_learner_clock_reads_the_same_wall_time_in_their_zone() -> None:
    new_york = zone("America/New_York")
    assert to_utc(STARTS_ON, CampTime(1, 9 * 60), new_york) == datetime(2026, 12, 7, 14, tzinfo=UTC)


def test_quiet_hours_wrap_midnight() -> None:
    quiet = DEFAULT_QUIET_HOURS
    assert quiet.contains(21 * 60 + 30) and quiet.contains(2 * 60) and not quiet.contains(8 * 60)
    assert not QuietHours(0, 0).contains(3 * 60)
    assert QuietHours(13 * 60, 14 * 60).contains(13 * 60 + 30)


def test_quiet_hours_move_to_the_next_allowed_minute() -> None:
    assert shift_camp_time(CampTime(2, 22 * 60), DEFAULT_QUIET_HOURS) == CampTime(3, 8 * 60)
    assert shift_camp_time(CampTime(2, 7 * 60), DEFAULT_QUIET_HOURS) == CampTime(2, 8 * 60)
    late = datetime(2026, 12, 7, 15, 0, 30, tzinfo=UTC)  # 23:00:30 in Shanghai
    moved = shift_out_of_quiet_hours(late, SHANGHAI, DEFAULT_QUIET_HOURS)
    assert moved == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # 08:00 next morning
    on_time = datetime(2026, 12, 7, 4, tzinfo=UTC)
    assert shift_out_of_quiet_hours(on_time, SHANGHAI, DEFAULT_QUIET_HOURS) is on_time


def test_unknown_zone_raises_key_error() -> None:
    with pytest.raises(KeyError):
        zone("Mars/Olympus")


def test_folders_and_absurd_names_are_not_zones() -> None:
    from campaign.journeys.calendar import is_timezone

    assert not is_timezone("Asia")
    assert not is_timezone("A" * 300)
    assert is_timezone("Asia/Shanghai")
