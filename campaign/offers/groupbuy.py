"""Group-buys (拼团): learners of one cohort buying one course together, with real counters.

A group-buy forms when ``size`` learners (the journey's ``offer.group_buy.size``) have joined;
then every member's offer gets the discount. Members are the offers that point at the group,
so the counters are counts of rows: nothing here can show a seat that is not real. On
PostgreSQL the group's row is locked while a member joins, so two joins never overfill it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from campaign.messages.planning import spec_of
from campaign.models import Enrollment, GroupBuy, Offer, OfferStatus
from campaign.offers.service import OfferClosed, OfferError, course_of, ensure_offer, set_course


@dataclass(frozen=True)
class GroupBuyStatus:
    """What a counter may show: real members, real seats left."""

    id: int
    cohort_id: int
    course_key: str
    size: int
    members: int
    formed_at: datetime | None

    @property
    def seats_left(self) -> int:
        return max(self.size - self.members, 0)

    @property
    def formed(self) -> bool:
        return self.formed_at is not None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["formed_at"] = self.formed_at.isoformat() if self.formed_at else None
        data["seats_left"], data["formed"] = self.seats_left, self.formed
        return data


def members_of(session: Session, group_buy_id: int) -> int:
    """Count the group's members (offers pointing at it)."""
    return int(
        session.scalar(select(func.count(Offer.id)).where(Offer.group_buy_id == group_buy_id)) or 0
    )


def group_buy_status(session: Session, group_buy: GroupBuy) -> GroupBuyStatus:
    """Return the group's counters as they are in the database now."""
    return GroupBuyStatus(
        id=group_buy.id,
        cohort_id=group_buy.cohort_id,
        course_key=group_buy.course_key,
        size=group_buy.size,
        members=members_of(session, group_buy.id),
        formed_at=group_buy.formed_at,
    )


def list_group_buys(session: Session, *, cohort_id: int | None = None) -> list[GroupBuyStatus]:
    """Return every group-buy (of one cohort), oldest first, with its counters."""
    query = select(GroupBuy).order_by(GroupBuy.id)
    if cohort_id is not None:
        query = query.where(GroupBuy.cohort_id == cohort_id)
    return [group_buy_status(session, group) for group in session.scalars(query)]


def _locked(session: Session, query: Select[GroupBuy]) -> Select[GroupBuy]:
    """Lock the selected groups on PostgreSQL (SQLite has one writer at a time anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update()
    return query


def _find_group(
    session: Session, cohort_id: int, course_key: str, group_buy_id: int | None
) -> GroupBuy | None:
    """Return the group to join: the one asked for, else the oldest with a free seat."""
    if group_buy_id is not None:
        group = session.scalar(
            _locked(session, select(GroupBuy).where(GroupBuy.id == group_buy_id))
        )
        if group is None or group.cohort_id != cohort_id or group.course_key != course_key:
            raise OfferError(f"group-buy {group_buy_id} is not for this course in this cohort")
        if group.formed_at is not None or members_of(session, group.id) >= group.size:
            raise OfferError(f"group-buy {group_buy_id} is already full")
        return group
    candidates = session.scalars(
        _locked(
            session,
            select(GroupBuy)
            .where(
                GroupBuy.cohort_id == cohort_id,
                GroupBuy.course_key == course_key,
                GroupBuy.formed_at.is_(None),
            )
            .order_by(GroupBuy.id),
        )
    )
    for group in candidates:
        if members_of(session, group.id) < group.size:
            return group
    return None


def join_group_buy(
    session: Session,
    enrollment: Enrollment,
    *,
    at: datetime,
    now: datetime,
    course_key: str | None = None,
    group_buy_id: int | None = None,
) -> GroupBuyStatus:
    """Put the learner's offer in a group-buy for its course (joining or starting one).

    Joining again returns the group the learner is in. When the group fills it forms, and
    every member's open offer gets the discount.

    :raises OfferError: the journey has no group-buy, the course or the group does not fit.
    :raises OfferClosed: the offer window is not open at ``at``.
    """
    spec = spec_of(enrollment.version)
    if spec.offer is None or spec.offer.group_buy is None:
        raise OfferError("this journey's offer has no group-buy")
    offer = ensure_offer(session, enrollment, at=at, now=now)
    if offer is None or offer.status is not OfferStatus.OPEN or at > offer.closes_at:
        raise OfferClosed("the offer is not open: a group-buy is joined only inside its window")
    if offer.group_buy_id is not None:
        group = session.get(GroupBuy, offer.group_buy_id)
        assert group is not None
        return group_buy_status(session, group)
    if course_key is not None:
        set_course(session, offer, enrollment, course_key, now)
    group = _find_group(session, enrollment.cohort_id, offer.course_key, group_buy_id)
    if group is None:
        group = GroupBuy(
            cohort_id=enrollment.cohort_id,
            course_key=offer.course_key,
            size=spec.offer.group_buy.size,
            created_at=now,
        )
        session.add(group)
        session.flush()
    offer.group_buy_id, offer.updated_at = group.id, now
    session.flush()
    if members_of(session, group.id) >= group.size:
        group.formed_at = now
        course = course_of(enrollment, group.course_key)
        price = max(course.price - spec.offer.group_buy.discount, 0.0)
        for member in session.scalars(select(Offer).where(Offer.group_buy_id == group.id)):
            if member.status is OfferStatus.OPEN:
                member.price, member.updated_at = price, now
        session.flush()
    return group_buy_status(session, group)


def leave_group_buy(session: Session, offer: Offer, now: datetime) -> None:
    """Take an offer out of a group that has not formed yet (a refund frees the seat)."""
    if offer.group_buy_id is None:
        return
    group = session.get(GroupBuy, offer.group_buy_id)
    if group is not None and group.formed_at is None:
        offer.group_buy_id, offer.updated_at = None, now
        session.flush()
