"""Take in a learner event and apply everything that follows from it, in one transaction.

``record_event`` (planning) stores the event idempotently, plans the steps it triggers, stops
selling on ``paid`` and records ``opted_out``. Each feature then adds its own consequence
through :data:`EFFECTS`, an explicit list: tags from rules, points, offers and attribution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db import among
from campaign.journeys.spec import JourneySpec
from campaign.learners.points import award_points
from campaign.learners.replies import open_reply_tasks
from campaign.learners.tags import apply_tag_rules
from campaign.messages.planning import NewEnrollment, enroll, record_event, spec_of
from campaign.models import Cohort, Enrollment, LearnerEvent
from campaign.offers.attribution import offer_effects

EventEffect = Callable[[Session, LearnerEvent, datetime], object]


# Filled in by the features that react to events (in this order: tags before points, points
# before offers, so a rule-set tag can already shape the recommendation).
EFFECTS: Sequence[EventEffect] = (
    apply_tag_rules,
    award_points,
    offer_effects,
    open_reply_tasks,
)


def ingest_event(
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
    """Record an event and apply its effects; None if ``external_id`` was already taken in.

    The caller commits: the event and all its consequences land together or not at all.
    """
    event = record_event(
        session,
        learner_id=learner_id,
        name=name,
        occurred_at=occurred_at,
        now=now,
        external_id=external_id,
        payload=payload,
        source=source,
    )
    if event is None:
        return None
    for effect in EFFECTS:
        effect(session, event, now)
    return event


ENROLLED = "enrolled"


def enroll_learners(
    session: Session, cohort: Cohort, entries: Sequence[NewEnrollment], *, now: datetime
) -> list[Enrollment]:
    """Enroll learners and plan their deliveries (:func:`~campaign.messages.planning.enroll`),
    then give their ``enrolled`` events the effects any event has: a journey whose tag or
    points rules name ``enrolled`` tags the newcomers and pays their points at once.

    Planning writes the ``enrolled`` events in bulk; the effects run only when the journey
    reacts to them, so a cohort of thousands costs nothing more when it does not. The caller
    commits. Returns the enrollments created (not those that existed).
    """
    created = enroll(session, cohort, entries, now=now)
    if not created or not reacts_to(spec_of(cohort.version), ENROLLED):
        return created
    events = session.scalars(
        select(LearnerEvent)
        .where(
            among(session, LearnerEvent.enrollment_id, [e.id for e in created]),
            LearnerEvent.name == ENROLLED,
        )
        .order_by(LearnerEvent.id)
    )
    for event in list(events):
        for effect in EFFECTS:
            effect(session, event, now)
    return created


def reacts_to(spec: JourneySpec, event_name: str) -> bool:
    """Tell whether the journey's tag or points rules do anything on ``event_name``."""
    return any(rule.on == event_name for rule in spec.tag_rules) or bool(
        spec.points.for_event(event_name)
    )
