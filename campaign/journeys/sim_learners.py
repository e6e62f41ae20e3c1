"""Synthetic learners for the simulator: tags, activity, timezone, consent, events, payment.

Everything is drawn from one ``random.Random`` in a fixed order, so a seed always gives the same
cohort. Times are POSIX timestamps (floats), not datetimes: a cohort of 10,000 learners has a few
hundred thousand events, and the simulator only ever compares and bisects them.

The mix follows the playbook (``domain/camp-playbook.md``): the tag taxonomy of its survey, the
activity tiers (every day, missing days, going silent, never joining), evening homework, morning
check-ins, and conversion concentrated among engaged, high-intent learners once the offer opens.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from campaign.journeys.sim_clock import CohortClock
from campaign.journeys.spec import CampTime, JourneySpec, MilestoneKind

_Add = Callable[[str, float], None]
"""Records one event (name, timestamp) for the learner being drawn."""

NEVER = math.inf
"""The timestamp of something that does not happen (no payment, no opt-out)."""

HOUR = 3600.0
DAY_MINUTES = 1440
ENROLL_DAYS = (-3, -2, -1)
"""Learners enroll over D-3..D-1 (sign-up runs during the prep days)."""

OTHER_TIMEZONES = (
    "Asia/Tokyo",
    "Asia/Singapore",
    "Europe/London",
    "America/Los_Angeles",
    "America/New_York",
    "Australia/Sydney",
)
SHARE_OTHER_TIMEZONE = 0.1

POINTS = {
    "checked_in": 1,
    "homework_submitted": 3,
    "attended_live": 2,
    "contest_scored": 5,
    "survey_answered": 1,
}
LIVE_KINDS = frozenset(
    {MilestoneKind.LIVE, MilestoneKind.RITUAL, MilestoneKind.PEAK, MilestoneKind.END}
)
MINOR_TAG = "compliance:under-14"
SILENT_TAG = "activity:silent"
SILENT_AFTER_MISSED = 3
"""The playbook's third tier: three missed check-ins in a row and the advisor tags "silent"..."""
SILENT_TAGGED_AT = 13 * 60
"""...after the next day's 12:00 missed-day round (local minute of the day)."""
OPTED_OUT_TAG = "compliance:unsubscribed"


class Activity(enum.StrEnum):
    """How a learner takes part (the playbook's activity tiers)."""

    EVERY_DAY = "every day"
    MISSES_DAYS = "misses days"
    GOES_SILENT = "goes silent"
    NEVER_JOINS = "never joins"


ACTIVITY_MIX = (
    (Activity.EVERY_DAY, 45),
    (Activity.MISSES_DAYS, 30),
    (Activity.GOES_SILENT, 15),
    (Activity.NEVER_JOINS, 10),
)
DAILY_ACTIVE = {
    Activity.EVERY_DAY: 0.95,
    Activity.MISSES_DAYS: 0.6,
    Activity.GOES_SILENT: 0.85,
    Activity.NEVER_JOINS: 0.0,
}
INTENT_MIX = {
    Activity.EVERY_DAY: (("A", 25), ("B", 45), ("C", 30)),
    Activity.MISSES_DAYS: (("A", 10), ("B", 40), ("C", 50)),
    Activity.GOES_SILENT: (("A", 5), ("B", 25), ("C", 70)),
    Activity.NEVER_JOINS: (("C", 1),),
}
PAY_RATE = {"A": 0.4, "B": 0.12, "C": 0.02}
TAG_GROUPS: tuple[tuple[str, float, tuple[tuple[str, int], ...]], ...] = (
    # group, share of learners who have a tag of it, weighted values
    (
        "source",
        1.0,
        (
            ("ads", 40),
            ("official-account", 20),
            ("referral", 20),
            ("alumni", 10),
            ("live-room", 10),
        ),
    ),
    (
        "goal",
        0.8,
        (
            ("excel-automation", 30),
            ("data-collection", 20),
            ("data-analysis", 20),
            ("web", 10),
            ("ai-apps", 12),
            ("career-change", 8),
        ),
    ),
    ("level", 0.85, (("beginner", 55), ("some", 35), ("programmer", 10))),
    (
        "persona",
        0.7,
        (
            ("student", 30),
            ("finance", 15),
            ("operations", 20),
            ("engineer", 15),
            ("parent", 10),
            ("freelancer", 10),
        ),
    ),
)


@dataclass(slots=True)
class SimLearner:
    """One synthetic enrollment; satisfies :class:`campaign.journeys.conditions.Facts`.

    ``points`` and ``state`` are refreshed by the simulator to the moment being evaluated;
    ``outcomes`` grows as the simulation walks forward in time.
    """

    index: int
    timezone: str
    tags: frozenset[str]
    activity: Activity
    enrolled_at: float
    event_times: dict[str, list[float]]
    point_times: list[float]
    point_totals: list[int]
    base_tags: frozenset[str] = frozenset()  # held from sign-up on (survey, source, intent)
    timed_tags: list[tuple[float, str]] = field(default_factory=list)  # (since, tag), in order
    paid_at: float = NEVER
    opted_out_at: float = NEVER
    minor: bool = False
    points: int = 0
    state: str = "active"
    outcomes: dict[str, str] = field(default_factory=dict)

    def points_at(self, moment: float) -> int:
        """Return the points earned up to and including ``moment``."""
        earned = bisect.bisect_right(self.point_times, moment)
        return self.point_totals[earned - 1] if earned else 0

    def tags_at(self, moment: float) -> frozenset[str]:
        """Return the tags held at ``moment`` (tags set during the camp join when set)."""
        later = [tag for since, tag in self.timed_tags if since <= moment]
        return self.base_tags.union(later) if later else self.base_tags

    def state_at(self, moment: float, graduation: float) -> str:
        """Return the enrollment state at ``moment`` (opt-out wins, then payment)."""
        if self.opted_out_at <= moment:
            return "opted_out"
        if self.paid_at <= moment:
            return "converted"
        if moment >= graduation:
            return "graduated"
        return "active"


class _Weighted:
    """A weighted choice prepared once: one random number and one binary search per draw."""

    def __init__(self, choices: Sequence[tuple[str, int]]) -> None:
        self.values = [value for value, _ in choices]
        self.cumulative: list[float] = list(itertools.accumulate(w for _, w in choices))

    def draw(self, rng: random.Random) -> str:
        pick = rng.random() * self.cumulative[-1]
        return self.values[bisect.bisect_right(self.cumulative, pick)]


_ACTIVITY = _Weighted([(activity.value, weight) for activity, weight in ACTIVITY_MIX])
_INTENT = {activity: _Weighted(mix) for activity, mix in INTENT_MIX.items()}
_TAGS = [(group, share, _Weighted(values)) for group, share, values in TAG_GROUPS]


@dataclass(frozen=True)
class _Calendar:
    """The camp moments that shape synthetic behaviour, on the cohort's clock."""

    lives: tuple[float, ...]  # milestone times learners attend
    peak: float | None
    offer_opens: float
    offer_closes: float


def _calendar(spec: JourneySpec, clock: CohortClock) -> _Calendar:
    lives = tuple(
        sorted(clock.camp_time(m.at) for m in spec.milestones.values() if m.kind in LIVE_KINDS)
    )
    peaks = [
        clock.camp_time(m.at) for m in spec.milestones.values() if m.kind is MilestoneKind.PEAK
    ]
    if spec.offer is not None:
        opens, closes = clock.camp_time(spec.offer.opens), clock.camp_time(spec.offer.closes)
    else:  # conversion opens at about two thirds of the camp and runs a day past its end
        opens = clock.camp_time(CampTime(max(1, (spec.days * 2 + 2) // 3), 20 * 60))
        closes = clock.camp_time(CampTime(spec.days + 1, 23 * 60 + 59))
    return _Calendar(lives, min(peaks) if peaks else None, opens, max(opens, closes))


class _Builder:
    """Draws one learner after another from a single random stream."""

    def __init__(self, spec: JourneySpec, clock: CohortClock, rng: random.Random) -> None:
        self.spec = spec
        self.clock = clock
        self.rng = rng
        self.calendar = _calendar(spec, clock)

    def learner(self, index: int) -> SimLearner:
        rng = self.rng
        timezone = self.spec.timezone
        if rng.random() < SHARE_OTHER_TIMEZONE:
            others = [name for name in OTHER_TIMEZONES if name != self.spec.timezone]
            timezone = others[rng.randrange(len(others))]
        activity = Activity(_ACTIVITY.draw(rng))
        tags = {
            f"{group}:{values.draw(rng)}" for group, share, values in _TAGS if rng.random() < share
        }
        intent = _INTENT[activity].draw(rng)
        tags.add(f"intent:{intent}")
        events: dict[str, list[float]] = {}

        def add(name: str, moment: float) -> None:
            events.setdefault(name, []).append(moment)

        enroll_minute = (
            rng.uniform(8 * 60, 23 * 60 + 30)
            if rng.random() < 0.85
            else rng.uniform(0, DAY_MINUTES)
        )
        enrolled_at = self.clock.at(
            timezone, ENROLL_DAYS[rng.randrange(len(ENROLL_DAYS))], enroll_minute
        )
        add("enrolled", enrolled_at)
        if activity is not Activity.NEVER_JOINS:
            add("joined_group", enrolled_at + rng.uniform(5, 600) * 60)
            if rng.random() < 0.7:
                add("survey_answered", enrolled_at + rng.uniform(2, 120) * 60)
        silent_at = self._camp_days(activity, timezone, enrolled_at, add)
        learner = SimLearner(index, timezone, frozenset(), activity, enrolled_at, events, [], [])
        if silent_at is not None:
            learner.timed_tags.append((silent_at, SILENT_TAG))
        self._consent_and_payment(learner, intent, tags, add)
        learner.tags = learner.base_tags = frozenset(tags)
        learner.timed_tags.sort()
        for times in events.values():
            times.sort()
        self._points(learner)
        return learner

    def _camp_days(
        self, activity: Activity, timezone: str, enrolled_at: float, add: _Add
    ) -> float | None:
        """Draw the camp days' events; return when the learner is tagged silent, if ever."""
        rng, days = self.rng, self.spec.days
        missed_in_a_row, silent_at = 0, None
        silent_from = rng.randrange(1, max(2, days)) if activity is Activity.GOES_SILENT else days
        active_rate = DAILY_ACTIVE[activity]
        for day_index in range(days):
            checked_in = False
            if day_index < silent_from and rng.random() < active_rate:
                checked_in = self._active_day(timezone, day_index, add)
            missed_in_a_row = 0 if checked_in else missed_in_a_row + 1
            if missed_in_a_row == SILENT_AFTER_MISSED and silent_at is None:
                silent_at = self.clock.at(timezone, day_index + 1, SILENT_TAGGED_AT)
        if activity is not Activity.NEVER_JOINS:
            self._lives(enrolled_at, self.clock.at(timezone, silent_from, 0), add)
        return silent_at

    def _active_day(self, timezone: str, day_index: int, add: _Add) -> bool:
        """Draw one active day's check-in, homework and replies; tell whether they checked in."""
        rng = self.rng
        checked_in = rng.random() < 0.9
        if checked_in:
            add("checked_in", self.clock.at(timezone, day_index, rng.uniform(7 * 60, 13 * 60)))
        if rng.random() < 0.8:
            minute = min(rng.triangular(12 * 60, DAY_MINUTES, 20 * 60 + 30), DAY_MINUTES - 1)
            add("homework_submitted", self.clock.at(timezone, day_index, minute))
        if rng.random() < 0.3:
            add("replied", self.clock.at(timezone, day_index, rng.uniform(9 * 60, 23 * 60)))
        return checked_in

    def _lives(self, enrolled_at: float, active_until: float, add: _Add) -> None:
        """Draw live attendance and the contest score while the learner is still around."""
        rng = self.rng
        for live in self.calendar.lives:
            if enrolled_at < live < active_until and rng.random() < 0.7:
                add("attended_live", live + rng.uniform(0, 10) * 60)
        peak = self.calendar.peak
        if peak is not None and enrolled_at < peak < active_until and rng.random() < 0.5:
            add("contest_scored", peak - HOUR)

    def _consent_and_payment(
        self, learner: SimLearner, intent: str, tags: set[str], add: _Add
    ) -> None:
        rng, cal = self.rng, self.calendar
        if rng.random() < 0.03:
            learner.minor = True
            tags.add(MINOR_TAG)
        consent = rng.random()
        if consent < 0.02:  # opted out right after signing up
            learner.opted_out_at = learner.enrolled_at + rng.uniform(1, 60) * 60
        elif consent < 0.035:  # opted out during the camp
            camp_start = self.clock.at(learner.timezone, 0, 0)
            learner.opted_out_at = rng.uniform(camp_start, camp_start + self.spec.days * 86400)
        if learner.opted_out_at < NEVER:
            add("opted_out", learner.opted_out_at)
            learner.timed_tags.append((learner.opted_out_at, OPTED_OUT_TAG))
        rate = PAY_RATE[intent] * (0.1 if learner.activity is Activity.NEVER_JOINS else 1.0)
        if rng.random() >= rate or learner.opted_out_at < cal.offer_opens:
            return
        # Most buyers decide during or right after the learning-path live that opens the offer.
        if rng.random() < 0.5:
            paid = cal.offer_opens + rng.uniform(0, 3) * HOUR
        else:
            paid = rng.uniform(cal.offer_opens, cal.offer_closes)
        paid = min(paid, cal.offer_closes)
        if rng.random() < 0.3:
            add("deposit_paid", rng.uniform(cal.offer_opens, paid))
        learner.paid_at = paid
        add("paid", paid)

    def _points(self, learner: SimLearner) -> None:
        earned = sorted(
            (moment, POINTS[name])
            for name, times in learner.event_times.items()
            if name in POINTS
            for moment in times
        )
        total = 0
        for moment, value in earned:
            total += value
            learner.point_times.append(moment)
            learner.point_totals.append(total)


def make_learners(
    spec: JourneySpec, starts_on: date, count: int, rng: random.Random
) -> list[SimLearner]:
    """Draw ``count`` learners for a cohort of ``spec`` starting ``starts_on``."""
    clock = CohortClock(spec.timezone, starts_on, ENROLL_DAYS[0], spec.days + 2)
    builder = _Builder(spec, clock, rng)
    return [builder.learner(index) for index in range(count)]
