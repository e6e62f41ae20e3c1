"""A cohort's calendar for the marketer: what went out, what was held back and why.

Deliveries are counted in SQL (grouped by step, planned time, status and reason), then put on
the cohort's calendar here: by local day on the cohort's clock, then by step. Each delivery
falls in exactly one outcome:

- ``sent``: it went out (an advisor task: the advisor marked it sent);
- ``with_advisor``: an advisor task not yet done (open or postponed);
- ``scheduled``: planned and not yet due, or being sent right now;
- ``waiting``: due but held for later (quiet hours, the daily cap, a paused cohort), with why;
- ``held``: held back for good (skipped, expired, cancelled; a task the advisor skipped), with why;
- ``failed``: the channel refused it, or it needs a person to verify it, with why.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.journeys.calendar import camp_time_of, zone
from campaign.models import Cohort, Delivery, DeliveryStatus, Enrollment, Task, TaskStatus

OUTCOMES = ("sent", "with_advisor", "scheduled", "waiting", "held", "failed")
REASONED = ("waiting", "held", "failed")
WAITING_PREFIX = "waiting: "
HELD_STATUSES = {DeliveryStatus.SKIPPED, DeliveryStatus.EXPIRED, DeliveryStatus.CANCELLED}
FAILED_STATUSES = {DeliveryStatus.FAILED, DeliveryStatus.VERIFY}


def _empty() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


@dataclass
class StepDay:
    """One step's deliveries planned on one day."""

    step_key: str
    channel: str
    first_at: datetime
    counts: dict[str, int] = field(default_factory=_empty)
    reasons: dict[tuple[str, str], int] = field(default_factory=dict)  # (outcome, why) → n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reasons_in_order(self) -> list[tuple[str, str, int]]:
        """Return (outcome, reason, count), by outcome then most frequent first."""
        return sorted(
            ((outcome, why, n) for (outcome, why), n in self.reasons.items()),
            key=lambda item: (OUTCOMES.index(item[0]), -item[2], item[1]),
        )


@dataclass
class CalendarDay:
    """One local day of the cohort with the steps planned on it."""

    day: date
    camp_day: int
    steps: list[StepDay]

    @property
    def label(self) -> str:
        return f"D{self.camp_day}"

    @property
    def counts(self) -> dict[str, int]:
        total = _empty()
        for step in self.steps:
            for outcome, n in step.counts.items():
                total[outcome] += n
        return total


@dataclass
class CohortCalendar:
    """The cohort's deliveries by day and step, with totals and the reasons for holding back."""

    timezone: str
    days: list[CalendarDay]
    totals: dict[str, int]
    reasons: list[tuple[str, str, int]]  # (outcome, reason, count), most frequent first


def classify(
    status: DeliveryStatus,
    reason: str | None,
    task_status: TaskStatus | None,
    task_reason: str | None,
) -> tuple[str, str | None]:
    """Return the outcome of one delivery and, for the reasoned outcomes, why."""
    if status is DeliveryStatus.SENT:
        if task_status is None or task_status is TaskStatus.SENT:
            return "sent", None
        if task_status is TaskStatus.SKIPPED:
            return "held", f"advisor skipped: {task_reason or '-'}"
        return "with_advisor", None
    if status is DeliveryStatus.PENDING:
        if reason and reason.startswith(WAITING_PREFIX):
            return "waiting", reason[len(WAITING_PREFIX):]
        return "scheduled", None
    if status in HELD_STATUSES:
        return "held", f"{status}: {reason or '-'}"
    if status in FAILED_STATUSES:
        return "failed", f"{status}: {reason or '-'}"
    return "scheduled", None  # claimed or sending: going out now


def cohort_calendar(session: Session, cohort: Cohort) -> CohortCalendar:
    """Count the cohort's deliveries by local day (cohort clock), step, outcome and reason."""
    query = (
        select(
            Delivery.step_key,
            Delivery.channel,
            Delivery.planned_at,
            Delivery.status,
            Delivery.reason,
            Task.status,
            Task.outcome_reason,
            func.count(),
        )
        .outerjoin(Task, Task.delivery_id == Delivery.id)
        .where(Delivery.cohort_id == cohort.id)
        .group_by(
            Delivery.step_key,
            Delivery.channel,
            Delivery.planned_at,
            Delivery.status,
            Delivery.reason,
            Task.status,
            Task.outcome_reason,
        )
    )
    tz: ZoneInfo = zone(cohort.timezone)
    by_day: dict[date, dict[str, StepDay]] = defaultdict(dict)
    camp_days: dict[date, int] = {}
    totals = _empty()
    reasons: dict[tuple[str, str], int] = defaultdict(int)
    for step_key, channel, planned_at, status, reason, task_status, task_reason, n in (
        session.execute(query)
    ):
        local = planned_at.astimezone(tz)
        day = local.date()
        camp_days.setdefault(day, camp_time_of(cohort.starts_on, planned_at, tz).day)
        entry = by_day[day].get(step_key)
        if entry is None:
            entry = by_day[day][step_key] = StepDay(step_key, str(channel), local)
        entry.first_at = min(entry.first_at, local)
        outcome, why = classify(DeliveryStatus(status), reason, task_status, task_reason)
        entry.counts[outcome] += n
        totals[outcome] += n
        if why is not None:
            entry.reasons[(outcome, why)] = entry.reasons.get((outcome, why), 0) + n
            reasons[(outcome, why)] += n
    days = [
        CalendarDay(
            day,
            camp_days[day],
            sorted(by_day[day].values(), key=lambda s: (s.first_at, s.step_key)),
        )
        for day in sorted(by_day)
    ]
    ordered = sorted(
        ((outcome, why, n) for (outcome, why), n in reasons.items()),
        key=lambda item: (-item[2], OUTCOMES.index(item[0]), item[1]),
    )
    return CohortCalendar(cohort.timezone, days, totals, ordered)


def enrollment_count(session: Session, cohort_ids: list[int]) -> dict[int, int]:
    """Return how many learners each cohort has."""
    if not cohort_ids:
        return {}
    rows = session.execute(
        select(Enrollment.cohort_id, func.count())
        .where(Enrollment.cohort_id.in_(cohort_ids))
        .group_by(Enrollment.cohort_id)
    )
    return {cohort_id: int(n) for cohort_id, n in rows}
