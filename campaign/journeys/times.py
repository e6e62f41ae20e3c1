"""Parse the small time vocabulary of journeys: camp times, clock times and durations.

Each parser raises :class:`TimeSyntaxError` whose message says what is wrong and shows the form
that is expected, so lint can pass it on to the marketer unchanged.
"""

from __future__ import annotations

import re
from datetime import timedelta

from campaign.journeys.spec import CampTime

MAX_DAYS = 366  # no journey step is a year away from its camp

CAMP_TIME_FORM = "a camp time like 'D3 21:00' (day D-3..D-1 or D1.., then HH:MM)"
DURATION_FORM = "a duration like '30m', '2h', '1d' or '1h30m'"

_CAMP_TIME = re.compile(r"^D(?P<day>-?\d+)(?:\.\.D(?P<last>-?\d+))?\s+(?P<clock>\S+)$")
_CLOCK = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})$")
_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


class TimeSyntaxError(ValueError):
    """A time, clock or duration that cannot be read; the message says how to fix it."""


def parse_clock(text: str) -> int:
    """Return the minute of the day of ``HH:MM`` (``24:00`` is not a clock time)."""
    match = _CLOCK.match(text.strip())
    if not match:
        raise TimeSyntaxError(f"'{text}' is not a clock time; expected HH:MM such as '08:30'")
    hour, minute = int(match["h"]), int(match["m"])
    if hour > 23:
        raise TimeSyntaxError(f"hour {hour} in '{text}' is out of range; hours run 00 to 23")
    if minute > 59:
        raise TimeSyntaxError(f"minute {minute} in '{text}' is out of range; minutes run 00 to 59")
    return hour * 60 + minute


def _check_day(day: int, text: str) -> None:
    if abs(day) > MAX_DAYS:
        raise TimeSyntaxError(f"'{text}' is more than {MAX_DAYS} days from the camp start")
    if day == 0:
        raise TimeSyntaxError(f"'{text}' names D0, which does not exist; the day before D1 is D-1")


def parse_camp_times(text: str) -> list[CampTime]:
    """Read ``'D3 21:00'`` (one time) or ``'D1..D4 21:00'`` (the same time on each day)."""
    match = _CAMP_TIME.match(str(text).strip())
    if not match:
        raise TimeSyntaxError(f"'{text}' is not {CAMP_TIME_FORM}")
    first = int(match["day"])
    last = int(match["last"]) if match["last"] is not None else first
    _check_day(first, text)
    _check_day(last, text)
    minute = parse_clock(match["clock"])
    if last < first:
        raise TimeSyntaxError(f"'{text}' runs backwards; write the earlier day first")
    return [CampTime(day, minute) for day in range(first, last + 1) if day != 0]


def parse_camp_time(text: str) -> CampTime:
    """Read exactly one camp time such as ``'D7 20:00'``."""
    times = parse_camp_times(text)
    if len(times) != 1:
        raise TimeSyntaxError(f"'{text}' names several days; one camp time is expected here")
    return times[0]


def parse_duration(text: str | int) -> timedelta:
    """Read ``'30m'``, ``'2h'``, ``'1d'``, ``'1h30m'`` (a bare number is minutes)."""
    if isinstance(text, bool):
        raise TimeSyntaxError(f"'{text}' is not {DURATION_FORM}")
    if isinstance(text, int):
        text = f"{text}m"
    compact = str(text).replace(" ", "")
    match = _DURATION.match(compact)
    if not compact or not match or not any(match.groupdict().values()):
        raise TimeSyntaxError(f"'{text}' is not {DURATION_FORM}")
    parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
    try:
        delta = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    except OverflowError:
        raise TimeSyntaxError(f"'{text}' is far too long; at most {MAX_DAYS} days") from None
    if delta > timedelta(days=MAX_DAYS):
        raise TimeSyntaxError(f"'{text}' is far too long; at most {MAX_DAYS} days")
    return delta


def format_duration(delta: timedelta) -> str:
    """Render a duration in the journey's own notation (``1h30m``)."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if v]
    return sign + ("".join(parts) or "0m")
