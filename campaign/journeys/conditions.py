"""Evaluate a step's ``when`` condition against what is known about one learner.

The send worker asks this when a delivery falls due, and the simulator asks it for every synthetic
learner at every step occurrence, so evaluation is split in two: :func:`compile_condition` turns a
condition and a moment (``now``, the clock's timezone, the camp's start) into a predicate once,
resolving every event window to a pair of POSIX timestamps; the predicate then answers per learner
with set look-ups and one binary search per event test, never a scan of the learner's events.

Windows (``within``):

- ``today``: the local calendar day of ``now`` on the step's clock, up to ``now``;
- ``yesterday``: the whole local day before that;
- ``camp``: from the camp's start (``D1 00:00`` local) up to ``now``;
- a duration ``w``: the half-open interval ``(now - w, now]``.

Events after ``now`` never count: the worker cannot know them, and the simulator (which does)
must not use them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from campaign.journeys.spec import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    EventWithin,
    HasTag,
    Not,
    PointsCompare,
    StateIn,
    StepOutcome,
    Window,
)

WILDCARD_SUFFIX = ":*"


class Facts(Protocol):
    """What a condition may read about a learner; :class:`LearnerFacts` is the plain form.

    ``event_times`` maps an event name to the POSIX timestamps of its occurrences, sorted
    ascending, so that a window test is a binary search.
    """

    @property
    def tags(self) -> Set[str]: ...

    @property
    def event_times(self) -> Mapping[str, Sequence[float]]: ...

    @property
    def points(self) -> int: ...

    @property
    def state(self) -> str: ...

    @property
    def outcomes(self) -> Mapping[str, str]: ...


Predicate = Callable[[Facts], bool]


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value.isoformat()}")


def index_events(events: Iterable[tuple[str, datetime]]) -> dict[str, list[float]]:
    """Group events by name into sorted POSIX timestamps (the form :class:`Facts` exposes).

    :raises ValueError: for a naive datetime, which would silently be read as local time.
    """
    index: dict[str, list[float]] = {}
    for name, moment in events:
        _require_aware(moment, f"the time of event '{name}'")
        index.setdefault(name, []).append(moment.timestamp())
    for times in index.values():
        times.sort()
    return index


@dataclass(frozen=True)
class LearnerFacts:
    """A learner as a condition sees it: tags, events, points, enrollment state, step outcomes.

    ``events`` is a sequence of ``(name, aware datetime)`` in any order; it is indexed once on
    construction so that evaluating many conditions against the same learner stays cheap.
    ``outcomes`` maps a step key to the outcome of its latest delivery (``sent``, ``skipped``...).
    """

    tags: frozenset[str] = frozenset()
    events: Sequence[tuple[str, datetime]] = ()
    points: int = 0
    state: str = "active"
    outcomes: Mapping[str, str] = field(default_factory=dict)
    event_times: Mapping[str, Sequence[float]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_times", index_events(self.events))


class Span(NamedTuple):
    """A window of POSIX time; each end is open or closed."""

    low: float
    high: float
    low_closed: bool
    high_closed: bool


def local_day_start(moment: datetime, tz: ZoneInfo, days_back: int = 0) -> datetime:
    """Return local midnight (in ``tz``) of the day of ``moment``, ``days_back`` days earlier."""
    day = moment.astimezone(tz).date() - timedelta(days=days_back)
    return datetime.combine(day, time(), tzinfo=tz)


def window_span(
    within: Window | timedelta, *, now: datetime, tz: ZoneInfo, camp_start: datetime
) -> Span:
    """Return the window ``within`` as timestamps, read at ``now`` on a clock in ``tz``."""
    now_ts = now.timestamp()
    if within is Window.TODAY:
        return Span(local_day_start(now, tz).timestamp(), now_ts, True, True)
    if within is Window.YESTERDAY:
        start = local_day_start(now, tz, days_back=1).timestamp()
        return Span(start, local_day_start(now, tz).timestamp(), True, False)
    if within is Window.CAMP:
        return Span(camp_start.timestamp(), now_ts, True, True)
    if isinstance(within, timedelta):
        return Span(now_ts - within.total_seconds(), now_ts, False, True)
    raise TypeError(f"unknown window {within!r}")


def _event_predicate(node: EventWithin, span: Span) -> Predicate:
    name, need = node.event, max(1, node.min_count)
    low, high = span.low, span.high
    first_index = bisect.bisect_left if span.low_closed else bisect.bisect_right
    high_closed = span.high_closed
    empty: Sequence[float] = ()

    def test(facts: Facts) -> bool:
        times = facts.event_times.get(name, empty)
        # The ``need``-th event at or after the low end decides: one search, no counting.
        last = first_index(times, low) + need - 1
        if last >= len(times):
            return False
        moment = times[last]
        return moment <= high if high_closed else moment < high

    return test


_COMPARE: dict[Comparison, Callable[[int, int], bool]] = {
    Comparison.GT: lambda a, b: a > b,
    Comparison.GTE: lambda a, b: a >= b,
    Comparison.LT: lambda a, b: a < b,
    Comparison.LTE: lambda a, b: a <= b,
    Comparison.EQ: lambda a, b: a == b,
}


def _tag_predicate(node: HasTag) -> Predicate:
    tag = node.tag
    if tag.endswith(WILDCARD_SUFFIX):
        prefix = tag[:-1]  # keep the colon: "goal:*" matches "goal:web", not "goalkeeper"

        def has_group(facts: Facts) -> bool:
            return any(t.startswith(prefix) for t in facts.tags)

        return has_group

    def has_tag(facts: Facts) -> bool:
        return tag in facts.tags

    return has_tag


# ``all()``/``any()`` over a generator cost a frame per learner; these run per learner per step.
def _all(parts: list[Predicate]) -> Predicate:
    def test(facts: Facts) -> bool:
        for part in parts:  # noqa: SIM110
            if not part(facts):
                return False
        return True

    return test


def _any(parts: list[Predicate]) -> Predicate:
    def test(facts: Facts) -> bool:
        for part in parts:  # noqa: SIM110
            if part(facts):
                return True
        return False

    return test


def compile_condition(
    condition: Condition | None, *, now: datetime, tz: ZoneInfo, camp_start: datetime
) -> Predicate:
    """Turn ``condition`` into a predicate over :class:`Facts` for the moment ``now``.

    Compile once per due moment and clock, then call the predicate for each learner. ``None``
    (a step without ``when``) compiles to a predicate that is always true.

    :param tz: the step's clock: the cohort's timezone, or the learner's for ``tz: learner``.
    :param camp_start: the aware instant of ``D1 00:00`` on that clock (the ``camp`` window).
    """
    _require_aware(now, "now")
    _require_aware(camp_start, "camp_start")
    spans: dict[Window | timedelta, Span] = {}

    def span_of(within: Window | timedelta) -> Span:
        if within not in spans:
            spans[within] = window_span(within, now=now, tz=tz, camp_start=camp_start)
        return spans[within]

    def build(node: Condition) -> Predicate:
        if isinstance(node, AllOf):
            return _all([build(item) for item in node.items])
        if isinstance(node, AnyOf):
            return _any([build(item) for item in node.items])
        if isinstance(node, Not):
            inner = build(node.item)
            return lambda facts: not inner(facts)
        if isinstance(node, HasTag):
            return _tag_predicate(node)
        if isinstance(node, EventWithin):
            return _event_predicate(node, span_of(node.within))
        if isinstance(node, PointsCompare):
            compare, value = _COMPARE[node.op], node.value
            return lambda facts: compare(facts.points, value)
        if isinstance(node, StateIn):
            states = node.states
            return lambda facts: facts.state in states
        if isinstance(node, StepOutcome):
            step, outcomes = node.step, node.outcomes
            return lambda facts: facts.outcomes.get(step) in outcomes
        raise TypeError(f"unknown condition node {node!r}")

    if condition is None:
        return lambda facts: True
    return build(condition)


def evaluate(
    condition: Condition | None,
    facts: Facts,
    *,
    now: datetime,
    tz: ZoneInfo,
    camp_start: datetime,
) -> bool:
    """Tell whether ``condition`` holds for one learner at ``now`` (``None`` always holds).

    For many learners at the same moment, :func:`compile_condition` once and call the result.
    """
    return compile_condition(condition, now=now, tz=tz, camp_start=camp_start)(facts)


FACT_TAGS = "tags"
FACT_EVENTS = "events"
FACT_POINTS = "points"
FACT_STATE = "state"
FACT_OUTCOMES = "outcomes"


def facts_used(condition: Condition | None) -> frozenset[str]:
    """Return the names of the facts a condition reads (``tags``, ``events``, ``points``...).

    Callers that keep facts up to date over time (the simulator, a worker loading a learner)
    refresh or load only what a condition will look at.
    """
    if condition is None:
        return frozenset()
    if isinstance(condition, (AllOf, AnyOf)):
        used: frozenset[str] = frozenset()
        for item in condition.items:
            used |= facts_used(item)
        return used
    if isinstance(condition, Not):
        return facts_used(condition.item)
    kinds: dict[type, str] = {
        HasTag: FACT_TAGS,
        EventWithin: FACT_EVENTS,
        PointsCompare: FACT_POINTS,
        StateIn: FACT_STATE,
        StepOutcome: FACT_OUTCOMES,
    }
    return frozenset({kinds[type(condition)]})
