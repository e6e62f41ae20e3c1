"""Turn camp times into real instants, and apply quiet hours on a local clock.

A cohort pins a journey to a first day (``starts_on``, which is ``D1``) and a timezone. A camp
time is a wall-clock time in that timezone, or in the learner's own for steps with ``tz: learner``
(the same calendar day, read on the learner's clock). All instants leaving here are aware UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaign.journeys.spec import CampTime, QuietHours


def zone(name: str) -> ZoneInfo:
    """Return the IANA timezone ``name``; raise ``KeyError`` with the name when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Asia" is a folder, not a zone
        raise KeyError(name) from exc


def is_timezone(name: str) -> bool:
    """Tell whether ``name`` is a known IANA timezone such as ``Asia/Shanghai``."""
    try:
        zone(name)
    except KeyError:
        return False
    return True


def camp_date(starts_on: date, camp_time: CampTime) -> date:
    """Return the calendar date of a camp time's day (``D1`` is ``starts_on``)."""
    return starts_on + timedelta(days=camp_time.day_index)


def local_datetime(starts_on: date, camp_time: CampTime, tz: ZoneInfo) -> datetime:
    """Return the aware local datetime of a camp time on a clock in ``tz``."""
    wall = datetime.combine(camp_date(starts_on, camp_time), time()) + timedelta(
        minutes=camp_time.minute
    )
    return wall.replace(tzinfo=tz)


def to_utc(starts_on: date, camp_time: CampTime, tz: ZoneInfo) -> datetime:
    """Return the UTC instant of a camp time read on a clock in ``tz``."""
    return local_datetime(starts_on, camp_time, tz).astimezone(UTC)


def camp_time_of(starts_on: date, instant: datetime, tz: ZoneInfo) -> CampTime:
    """Return where an instant falls on the cohort calendar read in ``tz``."""
    local = instant.astimezone(tz)
    days = (local.date() - starts_on).days
    return CampTime.from_absolute_minutes(days * 1440 + local.hour * 60 + local.minute)


def next_allowed_minute(minute_of_day: int, quiet: QuietHours) -> int:
    """Return minutes to wait from ``minute_of_day`` until quiet hours are over (0 if not quiet)."""
    if not quiet.contains(minute_of_day):
        return 0
    return (quiet.end - minute_of_day) % 1440


def shift_out_of_quiet_hours(instant: datetime, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """Return the first instant at or after ``instant`` outside quiet hours on a clock in ``tz``."""
    local = instant.astimezone(tz)
    wait = next_allowed_minute(local.hour * 60 + local.minute, quiet)
    if not wait:
        return instant
    moved = (local + timedelta(minutes=wait)).replace(second=0, microsecond=0)
    return moved.astimezone(instant.tzinfo or UTC)


def shift_camp_time(camp_time: CampTime, quiet: QuietHours) -> CampTime:
    """Return the camp time a quiet-hours ``move`` makes of ``camp_time`` (cohort clock)."""
    wait = next_allowed_minute(camp_time.minute, quiet)
    return CampTime.from_absolute_minutes(camp_time.absolute_minutes + wait)
