"""A learner's context as an advisor needs it beside a task: who, where in the camp, what
happened, and every delivery of the enrollment with its state and reason.

Plain queries (no Flask), a fixed number of them whatever the learner's history: the timeline
is one query joining each delivery to its task, events and tasks are capped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.journeys.calendar import camp_time_of, zone
from campaign.journeys.spec import Course, JourneySpec
from campaign.learners.common import event_counts_for
from campaign.messages.planning import spec_of
from campaign.models import (
    Conversion,
    Delivery,
    DeliveryStatus,
    Enrollment,
    LearnerEvent,
    Offer,
    Tag,
    Task,
    TaskStatus,
)

RECENT_EVENTS = 20
OTHER_TASKS = 20
SUMMARY_LENGTH = 160
INTERNAL_KEYS = frozenset({"cohort_id", "enrollment_id", "logged_by", "form"})


@dataclass(frozen=True)
class TimelineRow:
    """One delivery of the enrollment, and the task it made (advisor steps)."""

    delivery_id: int
    step_key: str
    channel: str
    variant: str | None
    due_at: datetime
    sent_at: datetime | None
    status: DeliveryStatus
    reason: str | None
    task_id: int | None
    task_status: TaskStatus | None


@dataclass(frozen=True)
class EventRow:
    """One learner event, summarised."""

    name: str
    occurred_at: datetime
    source: str
    summary: str


@dataclass
class LearnerContext:
    """Everything the learner panel shows."""

    enrollment: Enrollment
    spec: JourneySpec | None
    camp_day: int
    tags: list[Tag]
    rank: int
    class_size: int
    events: list[EventRow]
    timeline: list[TimelineRow]
    other_tasks: list[Task]
    offer: Offer | None
    conversions: list[Conversion]
    courses: list[Course] = field(default_factory=list)

    @property
    def spec_step_keys(self) -> frozenset[str]:
        """Return the keys of the journey's steps."""
        return frozenset(step.key for step in self.spec.steps) if self.spec else frozenset()

    @property
    def ab_steps(self) -> frozenset[str]:
        """Return the keys of steps with several variants (whose variant is worth showing)."""
        if self.spec is None:
            return frozenset()
        return frozenset(step.key for step in self.spec.steps if len(step.variants) > 1)


def safe_spec(enrollment: Enrollment) -> JourneySpec | None:
    """Return the enrollment's journey, or None if its version no longer loads."""
    try:
        return spec_of(enrollment.version)
    except ValueError:
        return None


def summarize(payload: Mapping[str, Any] | None) -> str:
    """Say what an event's payload holds in one short line (a message's text first)."""
    if not isinstance(payload, dict) or not payload:
        return ""
    text = payload.get("text")
    if isinstance(text, str) and text.strip():
        summary = text.strip()
    elif "course" in payload or "amount" in payload:
        amount = payload.get("amount")
        summary = " ".join(
            part
            for part in (
                str(payload.get("course") or ""),
                f"¥{amount:g}" if _number(amount) else "",
            )
            if part
        )
    elif "question" in payload:
        summary = f"{payload.get('question')}: {payload.get('answer')}"
    else:
        shown = {k: v for k, v in payload.items() if k not in INTERNAL_KEYS}
        summary = json.dumps(shown, ensure_ascii=False, sort_keys=True)[1:-1] if shown else ""
    return summary if len(summary) <= SUMMARY_LENGTH else summary[: SUMMARY_LENGTH - 1] + "…"


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def timeline(session: Session, enrollment_id: int) -> list[TimelineRow]:
    """Return every delivery of the enrollment by due time, each with its task's state."""
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.step_key,
            Delivery.channel,
            Delivery.variant,
            Delivery.due_at,
            Delivery.sent_at,
            Delivery.status,
            Delivery.reason,
            Task.id,
            Task.status,
        )
        .outerjoin(Task, Task.delivery_id == Delivery.id)
        .where(Delivery.enrollment_id == enrollment_id)
        .order_by(Delivery.due_at, Delivery.id)
    ).all()
    return [
        TimelineRow(
            delivery_id=row[0],
            step_key=row[1],
            channel=str(row[2]),
            variant=row[3],
            due_at=row[4],
            sent_at=row[5],
            status=row[6],
            reason=row[7],
            task_id=row[8],
            task_status=row[9],
        )
        for row in rows
    ]


def recent_events(session: Session, enrollment: Enrollment) -> list[EventRow]:
    """Return the learner's latest events that count for this enrollment, newest first."""
    events = session.scalars(
        select(LearnerEvent)
        .where(
            LearnerEvent.learner_id == enrollment.learner_id,
            event_counts_for(enrollment.id),  # type: ignore[arg-type]
        )
        .order_by(LearnerEvent.occurred_at.desc(), LearnerEvent.id.desc())
        .limit(RECENT_EVENTS)
    )
    return [EventRow(e.name, e.occurred_at, e.source, summarize(e.payload)) for e in events]


def leaderboard_place(session: Session, enrollment: Enrollment) -> tuple[int, int]:
    """Return the learner's place on the cohort's points leaderboard and the class size.

    The place follows :func:`campaign.messages.context.rank_in_cohort` (ties share a place: one
    more than those with more points). One statement, both counts read from the cohort's
    (cohort_id, points) index alone.
    """
    size, ahead = session.execute(
        select(func.count(), func.count().filter(Enrollment.points > enrollment.points)).where(
            Enrollment.cohort_id == enrollment.cohort_id
        )
    ).one()
    return int(ahead or 0) + 1, int(size or 0)


def learner_context(session: Session, enrollment: Enrollment, now: datetime) -> LearnerContext:
    """Load the learner panel of one enrollment (its learner, cohort and version loaded)."""
    cohort = enrollment.cohort
    spec = safe_spec(enrollment)
    tags = list(
        session.scalars(
            select(Tag).where(Tag.learner_id == enrollment.learner_id).order_by(Tag.name)
        )
    )
    rank, class_size = leaderboard_place(session, enrollment)
    other_tasks = list(
        session.scalars(
            select(Task)
            .where(Task.enrollment_id == enrollment.id, Task.delivery_id.is_(None))
            .order_by(Task.created_at.desc(), Task.id.desc())
            .limit(OTHER_TASKS)
        )
    )
    offer = session.scalar(select(Offer).where(Offer.enrollment_id == enrollment.id))
    conversions = list(
        session.scalars(
            select(Conversion)
            .where(Conversion.enrollment_id == enrollment.id)
            .order_by(Conversion.paid_at, Conversion.id)
        )
    )
    courses = list(spec.courses.values()) if spec is not None else []
    if offer is not None:  # the offered course first: the likely one to record
        courses.sort(key=lambda course: course.key != offer.course_key)
    return LearnerContext(
        enrollment=enrollment,
        spec=spec,
        camp_day=camp_time_of(cohort.starts_on, now, zone(cohort.timezone)).day,
        tags=tags,
        rank=rank,
        class_size=class_size,
        events=recent_events(session, enrollment),
        timeline=timeline(session, enrollment.id),
        other_tasks=other_tasks,
        offer=offer,
        conversions=conversions,
        courses=courses,
    )
