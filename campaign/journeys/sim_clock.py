"""Fast local-time arithmetic on timestamps for the simulator.

The simulator handles hundreds of thousands of deliveries; building a ``datetime`` for each to ask
"what minute of the day is it for this learner" would dominate its run time. A :class:`LocalClock`
caches the UTC offset of its timezone per quarter hour (every DST rule in use changes on a quarter
hour), so local minute and local day become integer arithmetic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from campaign.journeys.calendar import next_allowed_minute, to_utc
from campaign.journeys.spec import CampTime, QuietHours

DAY_SECONDS = 86400
_BUCKET = 900  # seconds; offsets are constant within a quarter hour


class LocalClock:
    """The wall clock of one timezone, read from POSIX timestamps."""

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self._offsets: dict[int, float] = {}

    def offset(self, moment: float) -> float:
        """Return the UTC offset in seconds at ``moment``."""
        bucket = int(moment // _BUCKET)
        found = self._offsets.get(bucket)
        if found is None:
            delta = datetime.fromtimestamp(bucket * _BUCKET, UTC).astimezone(self.tz).utcoffset()
            found = self._offsets[bucket] = delta.total_seconds() if delta else 0.0
        return found

    def minute_of_day(self, moment: float) -> int:
        """Return the local minute of the day (0..1439) at ``moment``."""
        return int((moment + self.offset(moment)) // 60) % 1440

    def local_day(self, moment: float) -> int:
        """Return the local calendar day of ``moment`` as a day number (consecutive integers)."""
        return int((moment + self.offset(moment)) // DAY_SECONDS)

    def from_wall(self, wall: float) -> float:
        """Return the timestamp at which the local wall clock reads ``wall`` (seconds)."""
        guess = wall - self.offset(wall)
        return wall - self.offset(guess)

    def out_of_quiet_hours(self, moment: float, quiet: QuietHours) -> float:
        """Return the first allowed minute at or after ``moment`` (``moment`` if not quiet)."""
        wall = moment + self.offset(moment)
        wait = next_allowed_minute(int(wall // 60) % 1440, quiet)
        if not wait:
            return moment
        return self.from_wall(wall - wall % 60 + wait * 60)

    def next_day_opening(self, moment: float, quiet: QuietHours) -> float:
        """Return the first allowed minute of the local day after the one of ``moment``."""
        midnight = self.from_wall((self.local_day(moment) + 1) * DAY_SECONDS)
        return self.out_of_quiet_hours(midnight, quiet)


class CohortClock:
    """Camp times as timestamps on each timezone's clock, computed once per camp day."""

    def __init__(
        self, timezone: str, starts_on: date, first_day_index: int, last_day_index: int
    ) -> None:
        self.timezone = timezone
        self.starts_on = starts_on
        self.first_index = first_day_index
        self.last_index = last_day_index
        self._midnights: dict[str, list[float]] = {}

    def midnight(self, timezone: str, day_index: int) -> float:
        """Return the timestamp of local midnight of camp day ``day_index`` (``D1`` is 0)."""
        if timezone not in self._midnights:
            tz = ZoneInfo(timezone)
            self._midnights[timezone] = [
                to_utc(self.starts_on, CampTime.from_absolute_minutes(i * 1440), tz).timestamp()
                for i in range(self.first_index, self.last_index + 1)
            ]
        return self._midnights[timezone][day_index - self.first_index]

    def at(self, timezone: str, day_index: int, minute: float) -> float:
        """Return the timestamp ``minute`` minutes after local midnight of ``day_index``."""
        return self.midnight(timezone, day_index) + minute * 60.0

    def camp_time(self, camp_time: CampTime, timezone: str | None = None) -> float:
        """Return the timestamp of a camp time on the clock of ``timezone`` (the cohort's)."""
        tz = ZoneInfo(timezone or self.timezone)
        return to_utc(self.starts_on, camp_time, tz).timestamp()
