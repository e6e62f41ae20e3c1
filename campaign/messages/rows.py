"""What deciding a batch reads of its deliveries, enrollments and learners, as plain objects.

The worker reads hundreds of rows a batch and changes none of them through the ORM (every
write is a conditional ``UPDATE``), so it loads them with Core queries into these slotted
classes: an ORM instance per row (identity map, state tracking) cost more than the checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column

from campaign.journeys.spec import Channel
from campaign.models import Delivery, Enrollment, EnrollmentState, Learner
from campaign.models.delivery import idempotency_key_of
from campaign.models.learner import is_minor_on


@dataclass(slots=True)
class ClaimedRow:
    """What deciding and sending read of a claimed delivery row.

    A plain object filled from a Core query: an ORM ``Delivery`` per row (identity map, state
    tracking) was a seventh of a worker's time, and the send path never changes a row through
    the ORM: every write is a conditional ``UPDATE`` naming the claim token.
    """

    id: int
    cohort_id: int
    enrollment_id: int | None
    advisor_id: int | None
    target: str
    step_key: str
    occurrence: str
    channel: Channel
    priority: int
    planned_at: datetime
    due_at: datetime
    attempts: int
    text: str | None
    reason: str | None
    variant: str | None

    @property
    def idempotency_key(self) -> str:
        return idempotency_key_of(self.id)


@dataclass(slots=True)
class EnrollmentRow:
    """An enrollment as the send-time checks and the template read it."""

    id: int
    cohort_id: int
    learner_id: int
    advisor_id: int | None
    journey_version_id: int
    state: EnrollmentState
    goal_reached_at: datetime | None
    points: int


@dataclass(slots=True)
class LearnerRow:
    """A learner as the send-time checks, the template and the channels read them."""

    id: int
    external_id: str
    name: str
    timezone: str | None
    email: str | None
    phone: str | None
    wecom_external_userid: str | None
    birth_date: date | None
    opted_out_at: datetime | None
    do_not_disturb: bool
    personalised_offers: bool

    def is_minor(self, today: date) -> bool:
        return is_minor_on(self.birth_date, today)


def columns_of(row_class: Any, model: Any) -> list[Column[Any]]:
    """The table columns a row class is filled from, in its field order."""
    return [model.__table__.c[name] for name in row_class.__slots__]


CLAIMED_COLUMNS = columns_of(ClaimedRow, Delivery)
ENROLLMENT_COLUMNS = columns_of(EnrollmentRow, Enrollment)
LEARNER_COLUMNS = columns_of(LearnerRow, Learner)
