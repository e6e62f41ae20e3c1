"""Payments and what led to them: conversions, refunds, and the event effects of offers.

A ``paid`` event converts the enrollment's offer and creates a :class:`Conversion` attributed to
the cohort, the advisor, the offer, and the last step and variant that *reached* the learner
before the payment (last touch). "Reached" is stricter than "sent" for advisor tasks: the
delivery only created a task, so it counts once the advisor marked the task sent, at that time.

:func:`offer_effects` is the entry in :data:`campaign.events.EFFECTS`: it turns ``paid``,
``deposit_paid``, ``group_buy_joined`` and ``refunded`` events into offer changes. An event the
offer cannot take (a deposit after the deadline) is still stored, it just changes no offer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.messages.planning import reach_goal, spec_of
from campaign.models import (
    Conversion,
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    LearnerEvent,
    OfferStatus,
    Task,
    TaskStatus,
)
from campaign.offers.groupbuy import join_group_buy, leave_group_buy
from campaign.offers.recommend import offered_courses
from campaign.offers.service import (
    OfferError,
    ensure_offer,
    offer_of,
    recommend_for,
    record_deposit,
)

log = logging.getLogger(__name__)

OFFER_EVENTS = frozenset({"paid", "deposit_paid", "group_buy_joined", "refunded"})


@dataclass(frozen=True)
class Touch:
    """The delivery that last reached a learner before some moment."""

    delivery_id: int
    step_key: str
    variant: str | None
    reached_at: datetime


def reached_at_column() -> Any:
    """Return the SQL expression of when a sent delivery reached its learner.

    Automated channels reach at ``sent_at``; an advisor task reaches when the advisor marks it
    sent (``done_at``). Pair it with :func:`reached_filter` and an outer join of ``Task``.
    """
    return func.coalesce(Task.done_at, Delivery.sent_at)


def reached_filter() -> Any:
    """Return the condition "this delivery reached its learner" (sent; a task marked sent)."""
    return (Delivery.status == DeliveryStatus.SENT) & (
        Task.id.is_(None) | (Task.status == TaskStatus.SENT)
    )


def last_touch(session: Session, enrollment_id: int, before: datetime) -> Touch | None:
    """Return the last delivery that reached the enrollment's learner at or before ``before``."""
    reached = reached_at_column()
    row = session.execute(
        select(Delivery.id, Delivery.step_key, Delivery.variant, reached)
        .outerjoin(Task, Task.delivery_id == Delivery.id)
        .where(Delivery.enrollment_id == enrollment_id, reached_filter(), reached <= before)
        .order_by(reached.desc(), Delivery.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Touch(row[0], row[1], row[2], row[3])


def enrollment_for_event(session: Session, event: LearnerEvent) -> Enrollment | None:
    """Return the enrollment an event is about.

    The one named on the event, else the payload's ``cohort_id``, else the learner's latest
    enrollment that has an open offer, else the latest one.
    """
    if event.enrollment_id is not None:
        return session.get(Enrollment, event.enrollment_id)
    query = select(Enrollment).where(Enrollment.learner_id == event.learner_id)
    cohort_id = (event.payload or {}).get("cohort_id")
    if isinstance(cohort_id, int) and not isinstance(cohort_id, bool):
        return session.scalar(query.where(Enrollment.cohort_id == cohort_id))
    enrollments = list(session.scalars(query.order_by(Enrollment.enrolled_at.desc())))
    for enrollment in enrollments:
        offer = offer_of(session, enrollment.id)
        if offer is not None and offer.status is OfferStatus.OPEN:
            return enrollment
    return enrollments[0] if enrollments else None


def _payload_text(event: LearnerEvent, key: str) -> str | None:
    value = (event.payload or {}).get(key)
    return value if isinstance(value, str) and value else None


def _payload_number(event: LearnerEvent, key: str) -> float | None:
    value = (event.payload or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def record_conversion(
    session: Session, enrollment: Enrollment, event: LearnerEvent, now: datetime
) -> Conversion | None:
    """Record the payment of ``event``: convert the offer, stop selling, attribute the sale.

    The course is the payload's ``course`` when the journey has it, else the offered one; the
    amount is the payload's ``amount``, else the offer's current price. A second payment for a
    course already bought (and not refunded) records nothing: None.
    """
    if session.scalar(select(Conversion.id).where(Conversion.event_id == event.id)):
        return None
    spec = spec_of(enrollment.version)
    offer = ensure_offer(session, enrollment, at=event.occurred_at, now=now, for_payment=True)
    course_key = _payload_text(event, "course")
    if course_key not in spec.courses:
        if offer is not None:
            course_key = offer.course_key
        else:
            choice = recommend_for(session, enrollment, spec)
            courses = offered_courses(spec)
            if choice is None and not courses:
                log.warning("paid event %s: the journey has no course to convert to", event.id)
                return None
            course_key = choice.course.key if choice is not None else courses[0].key
    assert course_key is not None
    if session.scalar(
        select(Conversion.id).where(
            Conversion.enrollment_id == enrollment.id,
            Conversion.course_key == course_key,
            Conversion.refunded_at.is_(None),
        )
    ):
        log.info("paid event %s: %s already bought by this enrollment", event.id, course_key)
        return None
    amount = _payload_number(event, "amount")
    if amount is None:
        same = offer is not None and offer.course_key == course_key
        amount = offer.price if same and offer is not None else spec.courses[course_key].price
    touch = last_touch(session, enrollment.id, event.occurred_at)
    conversion = Conversion(
        enrollment_id=enrollment.id,
        cohort_id=enrollment.cohort_id,
        advisor_id=enrollment.advisor_id,
        offer_id=offer.id if offer is not None else None,
        course_key=course_key,
        amount=amount,
        paid_at=event.occurred_at,
        event_id=event.id,
        step_key=touch.step_key if touch else None,
        variant=touch.variant if touch else None,
        delivery_id=touch.delivery_id if touch else None,
    )
    session.add(conversion)
    if offer is not None:
        offer.status, offer.updated_at = OfferStatus.CONVERTED, now
    if enrollment.state is not EnrollmentState.CONVERTED or enrollment.goal_reached_at is None:
        reach_goal(session, enrollment, spec, at=event.occurred_at, now=now)
    session.flush()
    return conversion


def record_refund(
    session: Session, enrollment: Enrollment, event: LearnerEvent, now: datetime
) -> Conversion | None:
    """Mark the enrollment's latest unrefunded conversion (of the payload's course) refunded.

    A refunded learner before the group formed also frees their group-buy seat.
    """
    query = select(Conversion).where(
        Conversion.enrollment_id == enrollment.id, Conversion.refunded_at.is_(None)
    )
    course_key = _payload_text(event, "course")
    if course_key is not None:
        query = query.where(Conversion.course_key == course_key)
    conversion = session.scalar(query.order_by(Conversion.paid_at.desc(), Conversion.id.desc()))
    offer = offer_of(session, enrollment.id)
    if offer is not None:
        leave_group_buy(session, offer, now)
    if conversion is None:
        return None
    conversion.refunded_at = event.occurred_at
    session.flush()
    return conversion


def offer_effects(session: Session, event: LearnerEvent, now: datetime) -> None:
    """Apply an event to offers: payment, deposit, group-buy join, refund (see module doc)."""
    if event.name not in OFFER_EVENTS:
        return
    enrollment = enrollment_for_event(session, event)
    if enrollment is None:
        log.info("%s event %s: the learner has no enrollment", event.name, event.id)
        return
    if event.name == "paid":
        record_conversion(session, enrollment, event, now)
    elif event.name == "refunded":
        record_refund(session, enrollment, event, now)
    else:
        try:
            if event.name == "deposit_paid":
                record_deposit(session, enrollment, at=event.occurred_at, now=now)
            else:
                group_id = (event.payload or {}).get("group_buy_id")
                join_group_buy(
                    session,
                    enrollment,
                    at=event.occurred_at,
                    now=now,
                    course_key=_payload_text(event, "course"),
                    group_buy_id=group_id
                    if isinstance(group_id, int) and not isinstance(group_id, bool)
                    else None,
                )
        except OfferError as exc:
            log.info("%s event %s changed no offer: %s", event.name, event.id, exc)
