"""Points: the append-only ledger, the cohort leaderboard, and coupons bought with points.

The ledger (:class:`~campaign.models.PointsEntry`) is the record; ``Enrollment.points`` is its
running total, moved by the same transaction with an atomic ``points = points + delta`` so two
events arriving at once both count. Templates read ``{{ learner.points }}`` from that total and
``{{ learner.rank }}`` from :func:`campaign.messages.context.rank_in_cohort`; the leaderboard
here ranks the same way (one plus the number of enrollments with more points: 1, 1, 3).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from campaign.errors import CampaignError, NotFound, did_you_mean
from campaign.journeys.spec import PointsRules
from campaign.learners.common import event_enrollments
from campaign.messages.planning import spec_of
from campaign.models import (
    Cohort,
    CouponRedemption,
    Enrollment,
    Learner,
    LearnerEvent,
    PointsEntry,
)

CONTEST_EVENT = "contest_scored"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


class NotEnoughPoints(CampaignError):
    """A redemption the enrollment cannot pay for."""


class UnknownCoupon(NotFound):
    """A coupon key the journey does not offer."""


def points_for(rules: PointsRules, event_name: str, payload: Mapping[str, Any]) -> int:
    """Return the points an event earns under ``rules`` (0 when no rule names it).

    ``contest_scored`` pays by the payload's ``rank`` (1 for the winner): ``by_rank`` for the
    ranks it lists, ``default`` for any other rank or none. A plain ``contest_scored: N`` rule
    pays N whatever the rank. ``refunded`` and every other event earn nothing unless a rule
    says so (a negative number takes points back).
    """
    flat = dict(rules.per_event)
    if event_name in flat:
        return flat[event_name]
    if event_name != CONTEST_EVENT:
        return 0
    rank = payload.get("rank")
    if isinstance(rank, str) and rank.strip().isdigit():
        rank = int(rank)
    if (
        isinstance(rank, int)
        and not isinstance(rank, bool)
        and 1 <= rank <= len(rules.contest_by_rank)
    ):
        return rules.contest_by_rank[rank - 1]
    return rules.contest_default


def _move_points(session: Session, enrollment: Enrollment, delta: int) -> int:
    """Add ``delta`` to the running total atomically and return the new total."""
    new_total = session.execute(
        update(Enrollment)
        .where(Enrollment.id == enrollment.id)
        .values(points=Enrollment.points + delta)
        .returning(Enrollment.points)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(enrollment, "points", new_total)
    return int(new_total)


def add_entry(
    session: Session,
    enrollment: Enrollment,
    delta: int,
    reason: str,
    *,
    now: datetime,
    event_id: int | None = None,
) -> PointsEntry | None:
    """Append a ledger row and move the total with it; None if this event already paid this
    reason to this enrollment (the ledger's unique key), so a replay adds nothing."""
    if event_id is not None and session.scalar(
        select(PointsEntry.id).where(
            PointsEntry.enrollment_id == enrollment.id,
            PointsEntry.event_id == event_id,
            PointsEntry.reason == reason,
        )
    ):
        return None
    entry = PointsEntry(
        enrollment_id=enrollment.id, delta=delta, reason=reason, event_id=event_id, created_at=now
    )
    session.add(entry)
    session.flush()
    _move_points(session, enrollment, delta)
    return entry


def award_points(session: Session, event: LearnerEvent, now: datetime) -> None:
    """Event effect: pay the points the journey's rules give this event, once per enrollment.

    The ledger row's reason is the event's name, so a check-in reads as "checked_in" in the
    learner's history; the row's time is when the event happened (never after ``now``).
    """
    payload: Mapping[str, Any] = event.payload if isinstance(event.payload, dict) else {}
    at = min(event.occurred_at, now)
    for enrollment in event_enrollments(session, event):
        delta = points_for(spec_of(enrollment.version).points, event.name, payload)
        if delta:
            add_entry(session, enrollment, delta, event.name, now=at, event_id=event.id)


def ledger(session: Session, enrollment_id: int) -> list[PointsEntry]:
    """Return an enrollment's ledger, oldest first."""
    return list(
        session.scalars(
            select(PointsEntry)
            .where(PointsEntry.enrollment_id == enrollment_id)
            .order_by(PointsEntry.created_at, PointsEntry.id)
        )
    )


# --- the leaderboard ------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """One line of the leaderboard."""

    rank: int
    enrollment_id: int
    learner_id: int
    name: str
    points: int
    advisor_id: int | None


def leaderboard(session: Session, cohort_id: int, *, limit: int | None = None) -> list[Standing]:
    """Return the cohort's enrollments by points, highest first; equal points share a rank.

    Ranks are "one plus how many have more points" (1, 1, 3), over every enrollment of the
    cohort, exactly as ``{{ learner.rank }}`` computes them. Equal points are listed by name.

    :param limit: keep the first ``limit`` places (ties at the cut are all kept).
    """
    if session.get(Cohort, cohort_id) is None:
        raise NotFound(f"cohort {cohort_id} does not exist")
    rows = session.execute(
        select(
            Enrollment.id,
            Enrollment.learner_id,
            Learner.name,
            Enrollment.points,
            Enrollment.advisor_id,
        )
        .join(Learner, Learner.id == Enrollment.learner_id)
        .where(Enrollment.cohort_id == cohort_id)
        .order_by(Enrollment.points.desc(), Learner.name, Enrollment.id)
    ).all()
    standings: list[Standing] = []
    for position, (enrollment_id, learner_id, name, points, advisor_id) in enumerate(rows):
        tied = bool(standings) and points == standings[-1].points
        rank = standings[-1].rank if tied else position + 1
        if limit is not None and rank > limit:
            break
        standings.append(Standing(rank, enrollment_id, learner_id, name, points, advisor_id))
    return standings


# --- coupons --------------------------------------------------------------------------------


def _new_code(session: Session, coupon_key: str) -> str:
    prefix = "".join(ch for ch in coupon_key.upper() if ch.isalnum())[:12] or "COUPON"
    while True:
        code = f"{prefix}-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
        if session.scalar(select(CouponRedemption.id).where(CouponRedemption.code == code)) is None:
            return code


def redeem(
    session: Session, enrollment_id: int, coupon_key: str, *, now: datetime
) -> CouponRedemption:
    """Buy a coupon of the enrollment's journey with points; return the redemption and its code.

    The points leave as a negative ledger row ("coupon <key>"). The balance check and the
    deduction are one conditional UPDATE, so two redemptions racing cannot overspend.

    :raises NotFound: when the enrollment does not exist.
    :raises UnknownCoupon: when the journey has no such coupon (the message lists those it has).
    :raises NotEnoughPoints: when the balance is below the coupon's price.
    """
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(f"enrollment {enrollment_id} does not exist")
    coupons = spec_of(enrollment.version).coupons
    coupon = coupons.get(coupon_key)
    if coupon is None:
        offered = ", ".join(sorted(coupons)) or "none"
        raise UnknownCoupon(
            f"the journey has no coupon '{coupon_key}'{did_you_mean(coupon_key, coupons)} "
            f"(coupons: {offered})"
        )
    paid = session.execute(
        update(Enrollment)
        .where(Enrollment.id == enrollment.id, Enrollment.points >= coupon.points)
        .values(points=Enrollment.points - coupon.points)
        .returning(Enrollment.points)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if paid is None:
        session.refresh(enrollment, ["points"])
        raise NotEnoughPoints(
            f"enrollment {enrollment_id} has {enrollment.points} points; coupon '{coupon_key}' "
            f"({coupon.title}) costs {coupon.points}: "
            f"{coupon.points - enrollment.points} more needed"
        )
    set_committed_value(enrollment, "points", int(paid))
    code = _new_code(session, coupon_key)
    session.add(
        PointsEntry(
            enrollment_id=enrollment.id,
            delta=-coupon.points,
            reason=f"coupon {coupon_key}",
            event_id=None,
            created_at=now,
        )
    )
    redemption = CouponRedemption(
        enrollment_id=enrollment.id,
        coupon_key=coupon_key,
        points=coupon.points,
        code=code,
        created_at=now,
    )
    session.add(redemption)
    session.flush()
    return redemption


def redemptions(session: Session, enrollment_id: int) -> list[CouponRedemption]:
    """Return the coupons an enrollment bought, oldest first."""
    return list(
        session.scalars(
            select(CouponRedemption)
            .where(CouponRedemption.enrollment_id == enrollment_id)
            .order_by(CouponRedemption.created_at, CouponRedemption.id)
        )
    )


def points_total(session: Session, enrollment_id: int) -> int:
    """Return the ledger's sum for an enrollment (what ``Enrollment.points`` must equal)."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
                PointsEntry.enrollment_id == enrollment_id
            )
        )
        or 0
    )
