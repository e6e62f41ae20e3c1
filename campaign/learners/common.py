"""Small queries the learner features share: which enrollments an event concerns, and when."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from campaign.models import Enrollment, EnrollmentState, LearnerEvent

# A learner who paid (``converted``) is still in the camp: the contest, the survey at the end
# and the leaderboard go on for them. Graduated, dropped and opted-out enrollments are over.
CURRENT_STATES = (EnrollmentState.ACTIVE, EnrollmentState.CONVERTED)


def event_enrollments(session: Session, event: LearnerEvent) -> list[Enrollment]:
    """Return the enrollments an event counts for.

    ``record_event`` pins the event to an enrollment when the learner has exactly one active
    one; otherwise the event counts for each of the learner's current enrollments (active or
    converted), so that a payer's contest rank still earns points.
    """
    if event.enrollment_id is not None:
        one = session.get(Enrollment, event.enrollment_id)
        return [one] if one is not None else []
    return list(
        session.scalars(
            select(Enrollment)
            .where(Enrollment.learner_id == event.learner_id, Enrollment.state.in_(CURRENT_STATES))
            .order_by(Enrollment.id)
        )
    )


def event_counts_for(
    enrollment_id: ColumnElement[int] | InstrumentedAttribute[int],
) -> ColumnElement[bool]:
    """Return the SQL test that a learner event belongs to an enrollment's camp.

    An event pinned to another enrollment (the learner is in two cohorts) does not count;
    an unpinned event counts for each of the learner's enrollments.
    """
    return or_(LearnerEvent.enrollment_id.is_(None), LearnerEvent.enrollment_id == enrollment_id)


def local_day_window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC start and end of a local calendar day (DST-safe)."""
    start = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return start, end
