"""Read offers and conversions for the API, the console and the CLI, as plain data.

Views are dataclasses with ``as_dict`` (JSON-ready) so callers never hold ORM rows past their
session, and the group-buy counters they carry are counted from rows, never stored totals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.journeys.spec import JourneySpec
from campaign.messages.planning import spec_of
from campaign.models import Conversion, Enrollment, GroupBuy, JourneyVersion, Offer


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value


@dataclass(frozen=True)
class OfferView:
    id: int
    enrollment_id: int
    cohort_id: int
    learner_id: int
    course_key: str
    course_title: str
    reason: str
    score: float
    personalised: bool
    price: float  # what the learner pays now: discounted in a formed group, reverted when closed
    course_price: float
    opens_at: datetime
    closes_at: datetime
    status: str
    deposit_paid_at: datetime | None
    group_buy_id: int | None
    group_buy_size: int | None
    group_buy_members: int | None  # a real count of members
    group_buy_formed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class ConversionView:
    id: int
    enrollment_id: int
    cohort_id: int
    learner_id: int
    advisor_id: int | None
    offer_id: int | None
    course_key: str
    amount: float
    paid_at: datetime
    step_key: str | None  # the last step that reached the learner before paying
    variant: str | None
    delivery_id: int | None
    refunded_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _spec_loader(session: Session) -> Callable[[int], JourneySpec]:
    """Return a loader of parsed journeys by version id, caching for one listing."""
    cache: dict[int, JourneySpec] = {}

    def load(version_id: int) -> JourneySpec:
        if version_id not in cache:
            version = session.get(JourneyVersion, version_id)
            assert version is not None
            cache[version_id] = spec_of(version)
        return cache[version_id]

    return load


def list_offers(
    session: Session, *, cohort_id: int | None = None, enrollment_id: int | None = None
) -> list[OfferView]:
    """Return offers (of one cohort, or of one enrollment), oldest first."""
    members = (
        select(Offer.group_buy_id, func.count(Offer.id).label("members"))
        .where(Offer.group_buy_id.is_not(None))
        .group_by(Offer.group_buy_id)
        .subquery()
    )
    query = (
        select(
            Offer,
            Enrollment.cohort_id,
            Enrollment.learner_id,
            Enrollment.journey_version_id,
            GroupBuy.size,
            members.c.members,
            GroupBuy.formed_at,
        )
        .join(Enrollment, Enrollment.id == Offer.enrollment_id)
        .outerjoin(GroupBuy, GroupBuy.id == Offer.group_buy_id)
        .outerjoin(members, members.c.group_buy_id == Offer.group_buy_id)
        .order_by(Offer.id)
    )
    if cohort_id is not None:
        query = query.where(Enrollment.cohort_id == cohort_id)
    if enrollment_id is not None:
        query = query.where(Offer.enrollment_id == enrollment_id)
    specs = _spec_loader(session)
    views = []
    for offer, cohort, learner, version_id, size, count, formed_at in session.execute(query):
        course = specs(version_id).courses.get(offer.course_key)
        views.append(
            OfferView(
                id=offer.id,
                enrollment_id=offer.enrollment_id,
                cohort_id=cohort,
                learner_id=learner,
                course_key=offer.course_key,
                course_title=course.title if course else offer.course_key,
                reason=offer.reason,
                score=offer.score,
                personalised=offer.personalised,
                price=offer.price,
                course_price=course.price if course else offer.price,
                opens_at=offer.opens_at,
                closes_at=offer.closes_at,
                status=str(offer.status),
                deposit_paid_at=offer.deposit_paid_at,
                group_buy_id=offer.group_buy_id,
                group_buy_size=size,
                group_buy_members=int(count) if count is not None else None,
                group_buy_formed_at=formed_at,
            )
        )
    return views


def list_conversions(session: Session, *, cohort_id: int | None = None) -> list[ConversionView]:
    """Return conversions (of one cohort), in the order they were paid."""
    query = (
        select(Conversion, Enrollment.learner_id)
        .join(Enrollment, Enrollment.id == Conversion.enrollment_id)
        .order_by(Conversion.paid_at, Conversion.id)
    )
    if cohort_id is not None:
        query = query.where(Conversion.cohort_id == cohort_id)
    return [
        ConversionView(
            id=c.id,
            enrollment_id=c.enrollment_id,
            cohort_id=c.cohort_id,
            learner_id=learner_id,
            advisor_id=c.advisor_id,
            offer_id=c.offer_id,
            course_key=c.course_key,
            amount=c.amount,
            paid_at=c.paid_at,
            step_key=c.step_key,
            variant=c.variant,
            delivery_id=c.delivery_id,
            refunded_at=c.refunded_at,
        )
        for c, learner_id in session.execute(query)
    ]


def offer_counts(session: Session, *, cohort_id: int | None = None) -> dict[str, int]:
    """Return real counters: offers by status, deposits held, learners in group-buys."""
    query = select(Offer.status, func.count(Offer.id), func.count(Offer.deposit_paid_at)).join(
        Enrollment, Enrollment.id == Offer.enrollment_id
    )
    grouped = select(func.count(Offer.group_buy_id)).join(
        Enrollment, Enrollment.id == Offer.enrollment_id
    )
    if cohort_id is not None:
        query = query.where(Enrollment.cohort_id == cohort_id)
        grouped = grouped.where(Enrollment.cohort_id == cohort_id)
    counts = {"open": 0, "converted": 0, "closed": 0, "deposits": 0}
    for status, count, deposits in session.execute(query.group_by(Offer.status)):
        counts[str(status)] = int(count)
        counts["deposits"] += int(deposits)
    counts["in_group_buys"] = int(session.scalar(grouped) or 0)
    return counts
