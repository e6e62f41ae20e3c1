"""The journey's meaning as plain, immutable data.

The loader turns a YAML document into a :class:`JourneySpec`; everything downstream (lint's
cross-checks, the simulator, the planner, the sender) reads these objects and never the YAML.
Nothing here does I/O or knows about Flask, Redis or the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TypeAlias


class Channel(enum.StrEnum):
    """Where a step's message goes."""

    ADVISOR_TASK = "advisor_task"
    WECOM = "wecom"
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"
    LOG = "log"

    @property
    def is_automated(self) -> bool:
        """Tell whether a machine sends it without a human's click (what the caps count)."""
        return self in AUTOMATED_CHANNELS


AUTOMATED_CHANNELS = frozenset({Channel.WECOM, Channel.EMAIL, Channel.SMS, Channel.WEBHOOK})


class MilestoneKind(enum.StrEnum):
    """The role of a named moment in the camp (peak-end rule: ``peak`` then a calm ``end``)."""

    RITUAL = "ritual"
    LIVE = "live"
    PEAK = "peak"
    END = "end"


class QuietHoursPolicy(enum.StrEnum):
    """What a step does when it falls due inside quiet hours."""

    MOVE = "move"  # go out at the next allowed minute
    DROP = "drop"  # skipped with the reason "quiet hours"
    EXEMPT = "exempt"  # class reminders: quiet hours do not apply


class OverCapPolicy(enum.StrEnum):
    """What a step does when the learner's daily cap is already used."""

    DROP = "drop"
    HOLD = "hold"  # wait for the next local day with room (still bounded by expires_after)


class Audience(enum.StrEnum):
    """Who one delivery of the step is for."""

    LEARNER = "learner"  # one delivery per enrollment (1v1)
    ADVISOR = "advisor"  # one per advisor of the cohort (their class report, their group post)
    COHORT = "cohort"  # one per cohort (a group post, an internal report)


class TimeBase(enum.StrEnum):
    """Whose clock a step's calendar time is read on."""

    COHORT = "cohort"
    LEARNER = "learner"


@dataclass(frozen=True, order=True)
class CampTime:
    """A moment on the cohort calendar: camp day ``day`` at ``minute`` minutes after midnight.

    Days run ``... D-2, D-1, D1, D2 ...``: there is no ``D0``; ``D-1`` is the eve of ``D1``.
    """

    day: int
    minute: int

    @property
    def day_index(self) -> int:
        """Return days after the cohort's ``starts_on`` (``D1`` is 0, ``D-1`` is -1)."""
        return self.day - 1 if self.day > 0 else self.day

    @property
    def absolute_minutes(self) -> int:
        """Return minutes from ``D1 00:00`` (negative before the camp)."""
        return self.day_index * 1440 + self.minute

    @classmethod
    def from_absolute_minutes(cls, minutes: int) -> CampTime:
        """Build the camp time ``minutes`` after ``D1 00:00``."""
        index, minute = divmod(minutes, 1440)
        return cls(index + 1 if index >= 0 else index, minute)

    def __str__(self) -> str:
        return f"D{self.day} {self.minute // 60:02d}:{self.minute % 60:02d}"


@dataclass(frozen=True)
class MilestoneOffset:
    """A moment relative to a milestone: ``{after: graduation, offset: 30m}``."""

    milestone: str
    offset: timedelta  # negative for ``before:``


At: TypeAlias = CampTime | MilestoneOffset


@dataclass(frozen=True)
class Trigger:
    """An event that starts a step for one enrollment: ``on: homework_submitted`` + ``delay``."""

    event: str
    delay: timedelta = timedelta(0)


# --- conditions (``when``): a small tree, never a string handed to eval -------------------


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


@dataclass(frozen=True)
class HasTag:
    """The learner has the tag; ``goal:*`` matches any tag of the group ``goal``."""

    tag: str


class Window(enum.StrEnum):
    """Named windows for ``within``; a duration (``48h``) is the other form."""

    TODAY = "today"  # the local calendar day the step is due on
    YESTERDAY = "yesterday"
    CAMP = "camp"  # since D1 00:00


@dataclass(frozen=True)
class EventWithin:
    """At least ``min_count`` events named ``event`` happened in the window before the step."""

    event: str
    within: Window | timedelta
    min_count: int = 1


class Comparison(enum.StrEnum):
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EQ = "eq"


@dataclass(frozen=True)
class PointsCompare:
    """The learner's points compare to ``value``: ``{points: {gte: 10}}``."""

    op: Comparison
    value: int


@dataclass(frozen=True)
class StateIn:
    """The enrollment's state is one of ``states``."""

    states: frozenset[str]


@dataclass(frozen=True)
class StepOutcome:
    """An earlier step's delivery ended in one of ``outcomes`` (branch on what the advisor did)."""

    step: str
    outcomes: frozenset[str]


Condition: TypeAlias = (
    AllOf | AnyOf | Not | HasTag | EventWithin | PointsCompare | StateIn | StepOutcome
)

ENROLLMENT_STATES = ("active", "graduated", "converted", "dropped", "opted_out")
DELIVERY_OUTCOMES = ("sent", "skipped", "postponed", "expired", "cancelled", "failed")


# --- the journey ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One A/B text of a step, chosen per enrollment with probability ``weight / total``."""

    key: str
    template: str
    weight: int = 1


@dataclass(frozen=True)
class Step:
    key: str
    channel: Channel
    variants: tuple[Variant, ...]  # a plain ``template:`` is one variant with key "a"
    at: tuple[At, ...] = ()  # calendar steps: one occurrence per entry
    on: Trigger | None = None  # event steps: planned when the event arrives
    when: Condition | None = None
    expires_after: timedelta | None = None
    selling: bool = False
    quiet_hours: QuietHoursPolicy = QuietHoursPolicy.MOVE
    over_cap: OverCapPolicy = OverCapPolicy.DROP
    priority: int = 50  # 0..100; under a cap the higher goes first
    catch_up: bool = False
    tz: TimeBase = TimeBase.COHORT
    audience: Audience = Audience.LEARNER
    deadline: timedelta | None = None  # advisor_task: the SLA to act on the task
    voice: bool = False  # advisor_task: hint "send as voice"
    course: str | None = None  # pin the offer to one course instead of the recommended one
    title: str | None = None  # short human name for calendars and the console

    @property
    def is_automated_1v1(self) -> bool:
        """Tell whether the step counts toward ``caps.automated_1v1_per_day``."""
        return self.audience is Audience.LEARNER and self.channel.is_automated


@dataclass(frozen=True)
class Milestone:
    key: str
    at: CampTime
    kind: MilestoneKind
    title: str | None = None


@dataclass(frozen=True)
class Course:
    key: str
    title: str
    price: float
    for_tags: tuple[str, ...] = ()
    url: str | None = None


@dataclass(frozen=True)
class GroupBuy:
    """拼团: ``size`` learners who pay together each get ``discount`` off."""

    size: int
    discount: float


@dataclass(frozen=True)
class Offer:
    opens: CampTime
    closes: CampTime
    courses: tuple[str, ...] = ()  # empty: every course of the journey
    deposit: float | None = None  # 定金 that holds the offer price past the deadline's rush
    group_buy: GroupBuy | None = None
    exploration: float = 0.1  # share of close calls where the runner-up course is offered


@dataclass(frozen=True)
class TagRule:
    """Set a tag automatically: on an event (optionally matching an answer or keywords), or
    when a learner has not checked in for ``silent_for``."""

    tag: str
    on: str | None = None
    question: str | None = None  # survey_answered: the payload's question ...
    answer: str | None = None  # ... and the answer that sets the tag
    keywords: tuple[str, ...] = ()  # replied: any of these in the payload's text
    silent_for: timedelta | None = None


@dataclass(frozen=True)
class PointsRules:
    """Points per event, and for the contest by rank (``by_rank[0]`` for the winner)."""

    per_event: tuple[tuple[str, int], ...] = ()
    contest_by_rank: tuple[int, ...] = ()
    contest_default: int = 0

    def for_event(self, name: str) -> int:
        """Return the points an event earns (0 for events without a rule)."""
        return dict(self.per_event).get(name, 0)


@dataclass(frozen=True)
class CouponSpec:
    """A coupon learners redeem with points."""

    key: str
    title: str
    points: int
    value: float


@dataclass(frozen=True)
class QuietHours:
    start: int  # minute of day the quiet period starts (21:30 -> 1290)
    end: int  # minute of day it ends; start > end wraps past midnight

    def contains(self, minute_of_day: int) -> bool:
        """Tell whether a local minute of the day is quiet."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= minute_of_day < self.end
        return minute_of_day >= self.start or minute_of_day < self.end


DEFAULT_QUIET_HOURS = QuietHours(start=21 * 60 + 30, end=8 * 60)


@dataclass(frozen=True)
class Caps:
    automated_1v1_per_day: int = 1


@dataclass(frozen=True)
class LintSettings:
    banned_phrases: tuple[str, ...] = ()  # added to the built-in list
    allowed_phrases: tuple[str, ...] = ()  # removed from it


@dataclass(frozen=True)
class JourneySpec:
    key: str
    title: str
    timezone: str
    days: int
    steps: tuple[Step, ...]
    milestones: dict[str, Milestone] = field(default_factory=dict)
    courses: dict[str, Course] = field(default_factory=dict)
    offer: Offer | None = None
    quiet_hours: QuietHours = DEFAULT_QUIET_HOURS
    caps: Caps = Caps()
    max_peak_to_end: timedelta = timedelta(hours=24)
    reply_within: timedelta = timedelta(hours=2)  # the promised reply time to a learner
    reply_within_on: tuple[tuple[int, timedelta], ...] = ()  # per camp day, e.g. D6: 30m
    events: tuple[str, ...] = ()  # custom event names the journey uses besides the built-in ones
    lint: LintSettings = LintSettings()
    tag_rules: tuple[TagRule, ...] = ()
    points: PointsRules = PointsRules()
    coupons: dict[str, CouponSpec] = field(default_factory=dict)

    def reply_window(self, day: int) -> timedelta:
        """Return the promised reply time on camp day ``day`` (contest day may be tighter)."""
        return dict(self.reply_within_on).get(day, self.reply_within)

    def step(self, key: str) -> Step:
        """Return the step named ``key``."""
        return self._steps_by_key[key]

    @cached_property
    def _steps_by_key(self) -> dict[str, Step]:
        """The steps by key, built on first use (a worker looks a step up for every row)."""
        return {step.key: step for step in self.steps}

    def resolve(self, at: At) -> CampTime:
        """Return the calendar time of ``at`` (a milestone offset becomes a plain camp time)."""
        if isinstance(at, CampTime):
            return at
        base = self.milestones[at.milestone].at
        return CampTime.from_absolute_minutes(
            base.absolute_minutes + int(at.offset.total_seconds() // 60)
        )


BUILTIN_EVENTS = (
    "enrolled",
    "joined_group",
    "checked_in",
    "homework_submitted",
    "attended_live",
    "contest_scored",
    "survey_answered",
    "replied",
    "deposit_paid",
    "paid",
    "refunded",
    "opted_out",
    "task_done",
)
