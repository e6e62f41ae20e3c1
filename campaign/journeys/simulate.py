"""Run a journey over a cohort of synthetic learners and report its calendar.

Before a camp goes live, marketing wants to see what the journey will do: how many learners each
step reaches, and how many the engine will hold back and why. :func:`simulate` walks every step
occurrence in time order, as the send worker would when each falls due, and applies the worker's
checks in its order: enrolled yet (``catch_up``), consent and age for ``selling`` steps, goal
reached (paid), the ``when`` condition at the due moment, quiet hours (``move`` or ``drop``),
``expires_after``, then the per-learner daily cap of automated 1v1 messages.

Rules of the simulation, so its numbers can be read correctly:

- A step's calendar time is read on the cohort's clock, or on each learner's for ``tz: learner``;
  condition windows (``today``) use that same clock. Quiet hours are the recipient's: the
  learner's clock for 1v1 steps, the cohort's for ``cohort`` and ``advisor`` steps.
- ``cohort`` steps are one delivery per cohort, ``advisor`` steps one per advisor
  (:data:`ADVISORS`); learner conditions, consent and caps do not apply to them.
- ``on:`` steps get one delivery per occurrence of their event (``delay`` after it).
- A ``catch_up`` step reaches a late joiner when they enroll, still bounded by its expiry.
- Advisor tasks that reach a learner end as ``sent`` mostly, sometimes ``postponed`` or
  ``skipped`` (what the advisor did), which ``outcome:`` conditions of later steps read.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from campaign.journeys.calendar import local_datetime, zone
from campaign.journeys.conditions import (
    FACT_POINTS,
    FACT_STATE,
    FACT_TAGS,
    Predicate,
    compile_condition,
    facts_used,
)
from campaign.journeys.sim_caps import CapCandidate, CapDecision, allocate_caps
from campaign.journeys.sim_clock import DAY_SECONDS, CohortClock, LocalClock
from campaign.journeys.sim_learners import ENROLL_DAYS, NEVER, SimLearner, make_learners
from campaign.journeys.sim_report import (
    HOLD_OUTCOME,
    HoldReason,
    ReportRow,
    RowKind,
    SimulationReport,
    sum_totals,
)
from campaign.journeys.spec import (
    Audience,
    CampTime,
    Channel,
    JourneySpec,
    MilestoneKind,
    OverCapPolicy,
    QuietHoursPolicy,
    Step,
    TimeBase,
)
from campaign.journeys.times import format_duration

ADVISORS = 3
"""Advisors assumed per simulated cohort (``audience: advisor`` steps go once to each)."""

HOLD_HORIZON_DAYS = 3
"""How long after the last occurrence a send held over the cap may wait (without an expiry)."""

ADVISOR_OUTCOMES = (("sent", 0.9), ("postponed", 0.06), ("skipped", 0.04))

Progress = Callable[[int], None]


class Timing(NamedTuple):
    """When a send goes out, or why it cannot; and until when it may still go out."""

    send: float
    reason: HoldReason | None  # quiet hours (drop) or expired: then ``send`` is meaningless
    moved: bool  # quiet hours moved it
    latest: float  # the due time plus ``expires_after`` (the cap may defer it until then)


@dataclass(frozen=True)
class _Traits:
    """What the walk needs to know about a step for every learner, worked out once."""

    reads_tags: bool
    reads_points: bool
    reads_state: bool
    automated_1v1: bool
    advisor_task: bool
    hold_over_cap: bool

    @classmethod
    def of(cls, step: Step) -> _Traits:
        used = facts_used(step.when)
        return cls(
            FACT_TAGS in used,
            FACT_POINTS in used,
            FACT_STATE in used,
            step.is_automated_1v1,
            step.channel is Channel.ADVISOR_TASK,
            step.over_cap is OverCapPolicy.HOLD,
        )


@dataclass(frozen=True)
class Occurrence:
    """One calendar time of a step (a step with ``at: "D1..D4 21:00"`` has four)."""

    step: Step
    camp_time: CampTime
    order: tuple[int, int]  # (step position, position in its ``at`` list), to break ties


def occurrences(spec: JourneySpec) -> list[Occurrence]:
    """Return every calendar occurrence of the journey's steps in camp-time order."""
    found = [
        Occurrence(step, spec.resolve(at), (position, index))
        for position, step in enumerate(spec.steps)
        for index, at in enumerate(step.at)
    ]
    return sorted(found, key=lambda o: (o.camp_time.absolute_minutes, o.order))


def work_units(spec: JourneySpec) -> int:
    """Return how many units :func:`simulate` reports to ``progress`` over a whole run."""
    return len(occurrences(spec)) + 2  # drawing the learners, each occurrence, the caps


class _Walk:
    """The state of one simulation: learners, their clocks, rows, and sends awaiting the cap."""

    def __init__(
        self, spec: JourneySpec, starts_on: date, learners: list[SimLearner], seed: int
    ) -> None:
        self.spec = spec
        self.starts_on = starts_on
        self.learners = learners
        self.outcome_rng = random.Random(f"{seed}:advisor-outcomes")
        self.groups: dict[str, list[SimLearner]] = {}
        for learner in learners:
            self.groups.setdefault(learner.timezone, []).append(learner)
        self.local = {name: LocalClock(name) for name in {spec.timezone, *self.groups}}
        self.calendar = CohortClock(spec.timezone, starts_on, ENROLL_DAYS[0], spec.days + 2)
        last = max((self.calendar.camp_time(o.camp_time) for o in occurrences(spec)), default=0.0)
        # How long a send held over the cap may wait when it has no ``expires_after``.
        self.horizon = max(
            self.calendar.midnight(spec.timezone, spec.days + 2),
            last + HOLD_HORIZON_DAYS * DAY_SECONDS,
        )
        ends = [m.at for m in spec.milestones.values() if m.kind is MilestoneKind.END]
        self.graduation = (
            self.calendar.camp_time(ends[0])
            if ends
            else self.calendar.midnight(spec.timezone, spec.days)
        )
        self.candidates: list[CapCandidate] = []
        self.rows: list[ReportRow] = []
        self.traits = {step.key: _Traits.of(step) for step in spec.steps}

    # --- timing ------------------------------------------------------------------------------

    def timing(self, due: float, send_from: float, clock: LocalClock, step: Step) -> Timing:
        """Apply quiet hours (on ``clock``) and expiry (counted from ``due``) to a send."""
        latest = due + step.expires_after.total_seconds() if step.expires_after else NEVER
        send, moved = send_from, False
        policy = step.quiet_hours
        if policy is not QuietHoursPolicy.EXEMPT and self.spec.quiet_hours.contains(
            clock.minute_of_day(send)
        ):
            if policy is QuietHoursPolicy.DROP:
                return Timing(send, HoldReason.QUIET_HOURS, False, latest)
            send, moved = clock.out_of_quiet_hours(send, self.spec.quiet_hours), True
        if send > latest:
            return Timing(send, HoldReason.EXPIRED, False, latest)
        return Timing(send, None, moved, latest)

    def predicate(self, step: Step, now: float, timezone: str) -> Predicate | None:
        """Compile the step's condition for the moment ``now`` on the clock of ``timezone``."""
        if step.when is None:
            return None
        tz = ZoneInfo(timezone)
        return compile_condition(
            step.when,
            now=datetime.fromtimestamp(now, UTC),
            tz=tz,
            camp_start=local_datetime(self.starts_on, CampTime(1, 0), tz),
        )

    # --- one learner -------------------------------------------------------------------------

    def deliver(
        self,
        row: int,
        step: Step,
        learner: SimLearner,
        now: float,
        timing: Timing,
        predicate: Predicate | None,
    ) -> None:
        """Run the send worker's checks for one learner at ``now`` and count the result."""
        reason: HoldReason | None = None
        if step.selling:
            if learner.opted_out_at <= now:
                reason = HoldReason.OPTED_OUT
            elif learner.minor:
                reason = HoldReason.MINOR
            elif learner.paid_at <= now:
                reason = HoldReason.GOAL_REACHED
        traits = self.traits[step.key]
        if reason is None and predicate is not None:
            if traits.reads_tags and learner.timed_tags:
                learner.tags = learner.tags_at(now)
            if traits.reads_points:
                learner.points = learner.points_at(now)
            if traits.reads_state:
                learner.state = learner.state_at(now, self.graduation)
            if not predicate(learner):
                reason = HoldReason.CONDITION
        if reason is None:
            reason = timing.reason
        if reason is not None:
            self.rows[row].hold(reason)
            learner.outcomes[step.key] = HOLD_OUTCOME[reason]
            return
        if traits.automated_1v1:
            send = timing.send
            self.candidates.append(
                CapCandidate(
                    learner.index,
                    self.local[learner.timezone].local_day(send),
                    step.priority,
                    send,
                    row,
                    min(timing.latest, self.horizon),
                    traits.hold_over_cap,
                    timing.moved,
                )
            )
            learner.outcomes[step.key] = "sent"
            return
        counts = self.rows[row]
        counts.reached += 1
        counts.moved += timing.moved
        learner.outcomes[step.key] = self.advisor_outcome() if traits.advisor_task else "sent"

    def advisor_outcome(self) -> str:
        """Draw what the advisor did with a task."""
        pick = self.outcome_rng.random()
        for outcome, share in ADVISOR_OUTCOMES:
            pick -= share
            if pick < 0:
                return outcome
        return ADVISOR_OUTCOMES[0][0]

    # --- one occurrence ----------------------------------------------------------------------

    def occurrence(self, occurrence: Occurrence, row: int) -> None:
        """Decide one calendar occurrence for every learner (or once per cohort / advisor)."""
        step, camp_time = occurrence.step, occurrence.camp_time
        cohort_clock = self.local[self.spec.timezone]
        if step.audience is not Audience.LEARNER:
            due = self.calendar.camp_time(camp_time)
            timing = self.timing(due, due, cohort_clock, step)
            count = ADVISORS if step.audience is Audience.ADVISOR else 1
            if timing.reason is not None:
                self.rows[row].hold(timing.reason, count)
            else:
                self.rows[row].reached += count
                self.rows[row].moved += count if timing.moved else 0
            return
        shared_due = self.calendar.camp_time(camp_time)
        shared = self.predicate(step, shared_due, self.spec.timezone)
        for timezone, members in self.groups.items():
            on_learner_clock = step.tz is TimeBase.LEARNER
            due = self.calendar.camp_time(camp_time, timezone) if on_learner_clock else shared_due
            predicate = self.predicate(step, due, timezone) if on_learner_clock else shared
            clock = self.local[timezone]
            timing = self.timing(due, due, clock, step)
            for learner in members:
                if learner.enrolled_at <= due:
                    self.deliver(row, step, learner, due, timing, predicate)
                elif step.catch_up:
                    now = learner.enrolled_at
                    self.deliver(
                        row,
                        step,
                        learner,
                        now,
                        self.timing(due, now, clock, step),
                        self.predicate(
                            step, now, timezone if on_learner_clock else self.spec.timezone
                        ),
                    )
                else:
                    self.rows[row].hold(HoldReason.NOT_ENROLLED)
                    learner.outcomes[step.key] = HOLD_OUTCOME[HoldReason.NOT_ENROLLED]

    def event_delivery(self, row: int, step: Step, learner: SimLearner, due: float) -> None:
        """Decide one delivery of an ``on:`` step, ``delay`` after its learner's event."""
        timezone = learner.timezone if step.tz is TimeBase.LEARNER else self.spec.timezone
        timing = self.timing(due, due, self.local[learner.timezone], step)
        self.deliver(row, step, learner, due, timing, self.predicate(step, due, timezone))

    # --- caps --------------------------------------------------------------------------------

    def apply_caps(self) -> None:
        """Share the daily automated 1v1 cap and count the sends that were waiting for it."""
        quiet = self.spec.quiet_hours
        timezone_of = [learner.timezone for learner in self.learners]

        def next_opening(candidate: CapCandidate) -> tuple[float, int]:
            clock = self.local[timezone_of[candidate.learner]]
            send = clock.next_day_opening(candidate.send, quiet)
            return send, clock.local_day(send)

        cap = self.spec.caps.automated_1v1_per_day
        for candidate, decision in allocate_caps(self.candidates, cap, next_opening):
            row = self.rows[candidate.row]
            if decision is CapDecision.HELD:
                row.hold(HoldReason.CAP)
                continue
            row.reached += 1
            row.moved += candidate.moved
            row.deferred += decision is CapDecision.DEFERRED


EventSend = tuple[float, int, int]
"""One event-triggered send: (due, position among the event steps = its row, learner index)."""


def _event_sends(event_steps: list[Step], learners: list[SimLearner]) -> list[EventSend]:
    """Return every send of the event-triggered steps, in time order."""
    found: list[EventSend] = []
    for position, step in enumerate(event_steps):
        assert step.on is not None
        delay = step.on.delay.total_seconds()
        for learner in learners:
            for moment in learner.event_times.get(step.on.event, ()):
                found.append((moment + delay, position, learner.index))
    found.sort()
    return found


CalendarRows = list[tuple[ReportRow, Occurrence | None]]


def _calendar_rows(
    spec: JourneySpec, starts_on: date, tz: ZoneInfo, occurrence_list: list[Occurrence]
) -> CalendarRows:
    """Return the milestone and step-occurrence rows in time order, each with its occurrence."""
    entries: list[tuple[tuple[int, int, tuple[int, int]], ReportRow, Occurrence | None]] = []
    for position, milestone in enumerate(spec.milestones.values()):
        row = ReportRow(
            RowKind.MILESTONE,
            milestone.key,
            milestone.at,
            local_datetime(starts_on, milestone.at, tz),
            title=milestone.title,
            milestone_kind=milestone.kind,
        )
        entries.append(((milestone.at.absolute_minutes, 0, (position, 0)), row, None))
    for occurrence in occurrence_list:
        step = occurrence.step
        row = ReportRow(
            RowKind.STEP,
            step.key,
            occurrence.camp_time,
            local_datetime(starts_on, occurrence.camp_time, tz),
            title=step.title,
            channel=step.channel,
            audience=step.audience,
            clock=step.tz,
            selling=step.selling,
        )
        entries.append(
            ((occurrence.camp_time.absolute_minutes, 1, occurrence.order), row, occurrence)
        )
    entries.sort(key=lambda entry: entry[0])
    return [(row, occurrence) for _, row, occurrence in entries]


def simulate(
    spec: JourneySpec, starts_on: date, learners: int, seed: int, progress: Progress | None = None
) -> SimulationReport:
    """Simulate a cohort of ``learners`` synthetic learners starting ``starts_on``.

    The same ``seed`` always gives the same report. ``progress``, when given, is called with the
    number of work units done since its last call (see :func:`work_units` for the total).
    """
    tick: Progress = progress or (lambda done: None)
    tz = zone(spec.timezone)
    cohort = make_learners(spec, starts_on, learners, random.Random(seed))
    tick(1)
    walk = _Walk(spec, starts_on, cohort, seed)
    event_steps = [step for step in spec.steps if step.on is not None]
    fired: list[set[int]] = [set() for _ in event_steps]
    for step in event_steps:
        assert step.on is not None
        trigger = f"on {step.on.event} +{format_duration(step.on.delay)}"
        walk.rows.append(
            ReportRow(
                RowKind.EVENT_STEP,
                step.key,
                title=step.title,
                channel=step.channel,
                audience=Audience.LEARNER,
                clock=step.tz,
                selling=step.selling,
                trigger=trigger,
            )
        )
    calendar = _calendar_rows(spec, starts_on, tz, occurrences(spec))
    walk.rows.extend(row for row, _ in calendar)
    pending = _event_sends(event_steps, cohort)  # event rows come first: position is the row
    next_event = 0
    for position, (_, occurrence) in enumerate(calendar, start=len(event_steps)):
        if occurrence is None:
            continue
        due = walk.calendar.camp_time(occurrence.camp_time)
        while next_event < len(pending) and pending[next_event][0] < due:
            _deliver_event(walk, event_steps, pending[next_event], fired)
            next_event += 1
        walk.occurrence(occurrence, position)
        tick(1)
    for remaining in pending[next_event:]:
        _deliver_event(walk, event_steps, remaining, fired)
    walk.apply_caps()
    tick(1)
    for row, learners_fired in zip(walk.rows[: len(event_steps)], fired, strict=True):
        row.fired = len(learners_fired)
    totals = sum_totals(walk.rows)
    totals.learners_paid = sum(learner.paid_at < NEVER for learner in cohort)
    totals.learners_opted_out = sum(learner.opted_out_at < NEVER for learner in cohort)
    totals.learners_minor = sum(learner.minor for learner in cohort)
    totals.learners_other_timezone = sum(learner.timezone != spec.timezone for learner in cohort)
    return SimulationReport(
        spec.key, spec.title, spec.timezone, starts_on, learners, seed, ADVISORS, walk.rows, totals
    )


def _deliver_event(
    walk: _Walk, event_steps: list[Step], send: EventSend, fired: list[set[int]]
) -> None:
    due, position, learner_index = send
    fired[position].add(learner_index)
    walk.event_delivery(position, event_steps[position], walk.learners[learner_index], due)
