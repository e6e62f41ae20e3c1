"""Write the schedule: enroll learners, plan their deliveries in bulk, record events.

Everything here is set-based: one multi-row INSERT per table for a whole batch of learners,
with ``ON CONFLICT DO NOTHING`` on the unique key, so planning again (a retried import, a
re-delivered event) adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from campaign.bulk import copy_rows, next_ids
from campaign.db import among
from campaign.journeys.calendar import zone
from campaign.journeys.loader import load_journey
from campaign.journeys.planner import PlannedSend, plan_calendar, plan_event
from campaign.journeys.spec import Audience, JourneySpec
from campaign.models import (
    Cohort,
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    JourneyVersion,
    Learner,
    LearnerEvent,
)


@lru_cache(maxsize=64)
def _spec_from_source(version_id: int, content_hash: str, source: str) -> JourneySpec:
    spec = load_journey(source, f"version {version_id}").spec
    if spec is None:
        raise ValueError(f"journey version {version_id} ({content_hash[:12]}) no longer loads")
    return spec


def spec_of(version: JourneyVersion) -> JourneySpec:
    """Return the parsed journey of a published version (cached: versions never change)."""
    return _spec_from_source(version.id, version.content_hash, version.source)


def insert_ignoring_duplicates(
    session: Session, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert ``rows`` in bulk, skipping any that collide with a unique key.

    One statement, executed for many rows: SQLAlchemy packs them into multi-row INSERTs of a
    size each database accepts ("insertmanyvalues"), and compiles the statement once.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(make_insert(table).on_conflict_do_nothing(), list(rows))


def _rows(
    cohort: Cohort,
    planned: Iterable[PlannedSend],
    *,
    target: str,
    now: datetime,
    enrollment_id: int | None = None,
    advisor_id: int | None = None,
) -> list[dict[str, Any]]:
    return [
        {
            "cohort_id": cohort.id,
            "enrollment_id": enrollment_id,
            "advisor_id": advisor_id,
            "target": target,
            "audience": p.audience,
            "step_key": p.step_key,
            "occurrence": p.occurrence,
            "channel": p.channel,
            "priority": p.priority,
            "planned_at": p.due_at,
            "due_at": p.due_at,
            "status": DeliveryStatus.SKIPPED if p.skip_reason else DeliveryStatus.PENDING,
            "reason": p.skip_reason,
            "attempts": 0,
            "updated_at": now,
        }
        for p in planned
    ]


@dataclass(frozen=True)
class NewEnrollment:
    learner_id: int
    advisor_id: int | None = None


def enroll(
    session: Session, cohort: Cohort, entries: Sequence[NewEnrollment], *, now: datetime
) -> list[Enrollment]:
    """Enroll learners in ``cohort`` and plan all their deliveries; already enrolled are kept.

    :returns: the enrollments created (not those that existed).
    """
    existing = set(
        session.scalars(
            select(Enrollment.learner_id).where(
                Enrollment.cohort_id == cohort.id,
                among(session, Enrollment.learner_id, [e.learner_id for e in entries]),
            )
        )
    )
    fresh = [
        e for e in dict((e.learner_id, e) for e in entries).values() if e.learner_id not in existing
    ]
    enrollments = _insert_enrollments(session, cohort, fresh, now=now)
    spec = spec_of(cohort.version)
    cohort_tz = zone(cohort.timezone)
    learner_zones = _learner_zones(session, [e.learner_id for e in enrollments])
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    # Everyone enrolled now on the same clock gets the same calendar: plan it once per zone.
    calendars: dict[ZoneInfo | None, list[PlannedSend]] = {}
    for enrollment in enrollments:
        learner_tz = learner_zones.get(enrollment.learner_id)
        if learner_tz not in calendars:
            calendars[learner_tz] = plan_calendar(
                spec,
                starts_on=cohort.starts_on,
                cohort_tz=cohort_tz,
                learner_tz=learner_tz,
                enrolled_at=now,
            )
        planned = calendars[learner_tz] + plan_event(
            spec, event="enrolled", occurred_at=now, event_key=f"enrolled-{enrollment.id}"
        )
        rows += _rows(
            cohort,
            planned,
            target=f"e{enrollment.id}",
            now=now,
            enrollment_id=enrollment.id,
            advisor_id=enrollment.advisor_id,
        )
        events.append(
            {
                "learner_id": enrollment.learner_id,
                "enrollment_id": enrollment.id,
                "name": "enrolled",
                "occurred_at": now,
                "source": "campaign",
                "recorded_at": now,
            }
        )
    advisors = {e.advisor_id for e in enrollments if e.advisor_id is not None}
    copy_rows(session, Delivery.__table__, rows)  # type: ignore[arg-type]  # new targets only
    # The cohort's and advisors' rows may exist already (an earlier enroll() planned them).
    group_rows = plan_group_rows(cohort, spec, cohort_tz, advisors, now=now)
    insert_ignoring_duplicates(session, Delivery.__table__, group_rows)  # type: ignore[arg-type]
    copy_rows(session, LearnerEvent.__table__, events)  # type: ignore[arg-type]
    return enrollments


def _insert_enrollments(
    session: Session, cohort: Cohort, fresh: Sequence[NewEnrollment], *, now: datetime
) -> list[Enrollment]:
    """Insert the new enrollments in bulk and return them as loaded objects, in input order."""
    if not fresh:
        return []
    rows: list[dict[str, Any]] = [
        {
            "cohort_id": cohort.id,
            "learner_id": e.learner_id,
            "advisor_id": e.advisor_id,
            "journey_version_id": cohort.journey_version_id,
            "state": EnrollmentState.ACTIVE,
            "enrolled_at": now,
            "points": 0,
        }
        for e in fresh
    ]
    table = Enrollment.__table__
    ids = next_ids(session, table, len(rows))  # type: ignore[arg-type]
    if ids is not None:
        for row, new_id in zip(rows, ids, strict=True):
            row["id"] = new_id
        copy_rows(session, table, rows)  # type: ignore[arg-type]
    else:
        ids = list(
            session.scalars(
                insert(Enrollment).returning(Enrollment.id, sort_by_parameter_order=True), rows
            )
        )
    low, high = min(ids), max(ids)
    loaded = {
        enrollment.id: enrollment
        for enrollment in session.scalars(
            select(Enrollment).where(
                Enrollment.cohort_id == cohort.id, Enrollment.id >= low, Enrollment.id <= high
            )
        )
    }
    return [loaded[new_id] for new_id in ids]


def plan_group_rows(
    cohort: Cohort,
    spec: JourneySpec,
    cohort_tz: ZoneInfo,
    advisor_ids: Iterable[int],
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """Return delivery rows of the cohort's group steps: one per cohort, one per advisor."""
    rows = _rows(
        cohort,
        plan_calendar(
            spec, starts_on=cohort.starts_on, cohort_tz=cohort_tz, audience=Audience.COHORT
        ),
        target="c",
        now=now,
    )
    per_advisor = plan_calendar(
        spec, starts_on=cohort.starts_on, cohort_tz=cohort_tz, audience=Audience.ADVISOR
    )
    for advisor_id in sorted(advisor_ids):
        rows += _rows(cohort, per_advisor, target=f"a{advisor_id}", now=now, advisor_id=advisor_id)
    return rows


def _learner_zones(session: Session, learner_ids: list[int]) -> dict[int, ZoneInfo]:
    zones: dict[int, ZoneInfo] = {}
    rows = session.execute(
        select(Learner.id, Learner.timezone).where(among(session, Learner.id, learner_ids))
    ).all()
    for learner_id, name in rows:
        if name:
            try:
                zones[learner_id] = zone(name)
            except KeyError:
                continue  # an unknown zone falls back to the cohort's clock
    return zones


def record_event(
    session: Session,
    *,
    learner_id: int,
    name: str,
    occurred_at: datetime,
    now: datetime,
    external_id: str | None = None,
    payload: dict[str, Any] | None = None,
    source: str = "api",
) -> LearnerEvent | None:
    """Record an event and act on it: plan ``on:`` steps, stop selling on ``paid``, honour
    ``opted_out``. Returns None when the event (same ``external_id``) was already recorded.
    """
    if external_id is not None and session.scalar(
        select(LearnerEvent.id).where(LearnerEvent.external_id == external_id)
    ):
        return None
    enrollments = list(
        session.scalars(
            select(Enrollment).where(
                Enrollment.learner_id == learner_id, Enrollment.state == EnrollmentState.ACTIVE
            )
        )
    )
    event = LearnerEvent(
        learner_id=learner_id,
        enrollment_id=enrollments[0].id if len(enrollments) == 1 else None,
        name=name,
        occurred_at=occurred_at,
        external_id=external_id,
        payload=payload,
        source=source,
        recorded_at=now,
    )
    session.add(event)
    session.flush()
    rows: list[dict[str, Any]] = []
    for enrollment in enrollments:
        spec = spec_of(enrollment.version)
        planned = plan_event(spec, event=name, occurred_at=occurred_at, event_key=str(event.id))
        rows += _rows(
            enrollment.cohort,
            planned,
            target=f"e{enrollment.id}",
            now=now,
            enrollment_id=enrollment.id,
            advisor_id=enrollment.advisor_id,
        )
        if name == "paid":
            reach_goal(session, enrollment, spec, at=occurred_at, now=now)
    if rows:
        insert_ignoring_duplicates(session, Delivery.__table__, rows)  # type: ignore[arg-type]
    if name == "opted_out":
        learner = session.get(Learner, learner_id)
        if learner is not None and learner.opted_out_at is None:
            learner.opted_out_at = occurred_at
    return event


def reach_goal(
    session: Session, enrollment: Enrollment, spec: JourneySpec, *, at: datetime, now: datetime
) -> int:
    """Mark the enrollment converted and cancel its pending selling deliveries at once.

    :returns: how many deliveries were cancelled.
    """
    enrollment.goal_reached_at = enrollment.goal_reached_at or at
    enrollment.state = EnrollmentState.CONVERTED
    selling = [s.key for s in spec.steps if s.selling]
    if not selling:
        return 0
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.enrollment_id == enrollment.id,
            Delivery.step_key.in_(selling),
            Delivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, reason="goal reached (paid)", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
