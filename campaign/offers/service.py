"""Offers: create them when the window opens, hold them with a deposit, close them honestly.

An offer row is the recommendation *as made*: course, reason, price and window, stored when the
journey's offer window opens so that every message, the console and the funnel show the same
thing. It is created for a whole cohort by :func:`open_offers` (the dispatcher or the CLI calls
it) and lazily, for one enrollment, by :func:`ensure_offer` (send time, a payment, a deposit).

Deadlines are real: :func:`close_expired_offers` closes what is past ``closes`` and puts the
price back to the course price. A deposit (定金) holds the offer past the deadline for
:data:`DEPOSIT_HOLD`, so the learner can pay the balance; nothing else extends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from campaign.errors import CampaignError
from campaign.journeys.spec import Course, JourneySpec
from campaign.messages import context as ctx
from campaign.messages.planning import insert_ignoring_duplicates, spec_of
from campaign.models import (
    Cohort,
    Enrollment,
    EnrollmentState,
    Learner,
    Offer,
    OfferStatus,
)
from campaign.offers.evidence import cached_evidence, learner_tags, observed_stats, popularity
from campaign.offers.recommend import LearnerTag, Recommendation, Stats, reason_for, recommend

DEPOSIT_HOLD = timedelta(days=7)  # a deposit keeps the offer price this long after ``closes``
OFFERABLE = (EnrollmentState.ACTIVE, EnrollmentState.GRADUATED)  # paid, dropped, opted out: no


class OfferError(CampaignError):
    """An offer action that the offer's state or the journey does not allow."""


class OfferClosed(OfferError):
    """The offer window is not open (not yet, or no longer)."""


def offer_window(spec: JourneySpec, cohort: Cohort) -> tuple[datetime, datetime] | None:
    """Return when the journey's offer opens and closes for ``cohort`` (None without offer)."""
    return ctx.offer_window(spec, cohort)


def hold_until(offer: Offer) -> datetime:
    """Return until when an offer is open: ``closes``, or later when a deposit holds it."""
    if offer.deposit_paid_at is not None:
        return offer.closes_at + DEPOSIT_HOLD
    return offer.closes_at


def recommend_for(
    session: Session,
    enrollment: Enrollment,
    spec: JourneySpec,
    *,
    stats: Stats | None = None,
    sales: dict[str, int] | None = None,
    tags: Sequence[LearnerTag] | None = None,
) -> Recommendation | None:
    """Recommend a course to one enrollment from its learner's tags and observed conversion.

    Without ``stats``/``sales`` the cached evidence is used (see :func:`cached_evidence`).
    """
    learner = enrollment.learner
    personalised = learner.personalised_offers
    if tags is None:
        tags = learner_tags(session, [learner.id]).get(learner.id, []) if personalised else []
    if stats is None or sales is None:
        stats, sales = cached_evidence(session)
    return recommend(
        spec,
        enrollment_id=enrollment.id,
        tags=tags,
        stats=stats if personalised else {},
        personalised=personalised,
        popularity=sales,
    )


def _offer_row(
    enrollment: Enrollment, choice: Recommendation, window: tuple[datetime, datetime], now: datetime
) -> dict[str, Any]:
    return {
        "enrollment_id": enrollment.id,
        "course_key": choice.course.key,
        "reason": choice.reason,
        "score": choice.score,
        "personalised": choice.personalised,
        "price": choice.course.price,
        "opens_at": window[0],
        "closes_at": window[1],
        "status": OfferStatus.OPEN,
        "created_at": now,
        "updated_at": now,
    }


def open_offers(session: Session, cohort: Cohort, now: datetime) -> int:
    """Create the offers of a cohort whose window is open at ``now``; returns how many.

    Idempotent (one offer per enrollment, an existing one is kept), set-based (one query for
    tags, one for the statistics, one INSERT), so the dispatcher may call it every pass.
    """
    spec = spec_of(cohort.version)
    window = offer_window(spec, cohort)
    if window is None or not window[0] <= now <= window[1]:
        return 0
    have = select(Offer.enrollment_id)
    enrollments = list(
        session.scalars(
            select(Enrollment).where(
                Enrollment.cohort_id == cohort.id,
                Enrollment.state.in_(OFFERABLE),
                Enrollment.id.not_in(have),
            )
        )
    )
    if not enrollments:
        return 0
    learners = {
        learner.id: learner
        for learner in session.scalars(
            select(Learner).where(Learner.id.in_({e.learner_id for e in enrollments}))
        )
    }
    tags = learner_tags(session, learners)
    stats, sales = observed_stats(session), popularity(session)
    rows = []
    for enrollment in enrollments:
        version_spec = spec if enrollment.journey_version_id == cohort.journey_version_id else None
        espec = version_spec or spec_of(enrollment.version)
        ewindow = offer_window(espec, cohort)
        if ewindow is None:
            continue
        personalised = learners[enrollment.learner_id].personalised_offers
        choice = recommend(
            espec,
            enrollment_id=enrollment.id,
            tags=tags.get(enrollment.learner_id, []) if personalised else [],
            stats=stats if personalised else {},
            personalised=personalised,
            popularity=sales,
        )
        if choice is not None:
            rows.append(_offer_row(enrollment, choice, ewindow, now))
    insert_ignoring_duplicates(session, Offer.__table__, rows)  # type: ignore[arg-type]
    return len(rows)


def offer_of(session: Session, enrollment_id: int) -> Offer | None:
    """Return the enrollment's stored offer, if one was made."""
    return session.scalar(select(Offer).where(Offer.enrollment_id == enrollment_id))


def ensure_offer(
    session: Session,
    enrollment: Enrollment,
    *,
    at: datetime,
    now: datetime,
    for_payment: bool = False,
) -> Offer | None:
    """Return the enrollment's offer, creating it if the window is open at ``at``.

    An open offer found past its deadline (and past any deposit hold) is closed first, so a
    reader never sees a stale discount. ``for_payment``: the enrollment may already be
    converted (the payment being recorded did that), the offer is still made so the sale is
    attributed to it.
    """
    offer = offer_of(session, enrollment.id)
    if offer is None:
        spec = spec_of(enrollment.version)
        window = offer_window(spec, enrollment.cohort)
        if window is None or not window[0] <= at <= window[1]:
            return None
        if enrollment.state not in OFFERABLE and not for_payment:
            return None
        choice = recommend_for(session, enrollment, spec)
        if choice is None:
            return None
        row = _offer_row(enrollment, choice, window, now)
        insert_ignoring_duplicates(session, Offer.__table__, [row])  # type: ignore[arg-type]
        offer = offer_of(session, enrollment.id)
    elif offer.status is OfferStatus.OPEN and now > hold_until(offer):
        close_expired_offers(session, now, offer_ids=[offer.id])
        session.refresh(offer)
    return offer


def course_of(enrollment: Enrollment, course_key: str) -> Course:
    """Return the course named ``course_key`` in the enrollment's journey version."""
    spec = spec_of(enrollment.version)
    try:
        return spec.courses[course_key]
    except KeyError:
        raise OfferError(f"course '{course_key}' is not in this journey") from None


def close_expired_offers(
    session: Session, now: datetime, *, offer_ids: Sequence[int] | None = None
) -> int:
    """Close open offers past their deadline (and deposit hold); the price reverts.

    :returns: how many offers were closed.
    """
    query = (
        select(Offer)
        .where(
            Offer.status == OfferStatus.OPEN,
            Offer.closes_at < now,
            or_(Offer.deposit_paid_at.is_(None), Offer.closes_at < now - DEPOSIT_HOLD),
        )
        .order_by(Offer.id)
    )
    if offer_ids is not None:
        query = query.where(Offer.id.in_(offer_ids))
    closed = 0
    for offer in session.scalars(query):
        enrollment = session.get(Enrollment, offer.enrollment_id)
        assert enrollment is not None
        course = spec_of(enrollment.version).courses.get(offer.course_key)
        offer.status = OfferStatus.CLOSED
        if course is not None:
            offer.price = course.price
        offer.updated_at = now
        closed += 1
    session.flush()
    return closed


def record_deposit(
    session: Session, enrollment: Enrollment, *, at: datetime, now: datetime
) -> Offer:
    """Record a deposit (定金) paid at ``at``: it holds the offer past its deadline.

    :raises OfferError: the journey takes no deposit, or the offer is not open.
    """
    spec = spec_of(enrollment.version)
    if spec.offer is None or spec.offer.deposit is None:
        raise OfferError("this journey's offer takes no deposit")
    offer = ensure_offer(session, enrollment, at=at, now=now)
    if offer is None or offer.status is not OfferStatus.OPEN or at > offer.closes_at:
        raise OfferClosed("the offer is not open: a deposit is taken only inside its window")
    if offer.deposit_paid_at is None:
        offer.deposit_paid_at = at
        offer.updated_at = now
    return offer


def set_course(
    session: Session, offer: Offer, enrollment: Enrollment, course_key: str, now: datetime
) -> None:
    """Switch an open offer to another offered course the learner chose (reason follows)."""
    if course_key == offer.course_key:
        return
    course = course_of(enrollment, course_key)
    offered = spec_of(enrollment.version).offer
    if offered is not None and offered.courses and course_key not in offered.courses:
        raise OfferError(f"course '{course_key}' is not part of this offer")
    if offer.group_buy_id is not None:
        raise OfferError("the learner is in a group-buy for another course")
    offer.course_key = course.key
    offer.price = course.price
    have = ctx.learner_tags(session, enrollment.learner_id)
    tag = next((t for t in course.for_tags if t in have), None)
    offer.reason = reason_for(course, tag) if offer.personalised else offer.reason
    offer.updated_at = now


def refresh_open_offers(session: Session, learner_id: int, now: datetime) -> int:
    """Re-choose the learner's open offers (after a change of personalisation consent).

    Offers the learner committed to (a deposit, a group-buy) are kept as they are.
    """
    changed = 0
    for offer, enrollment in session.execute(
        select(Offer, Enrollment)
        .join(Enrollment, Enrollment.id == Offer.enrollment_id)
        .where(
            Enrollment.learner_id == learner_id,
            Offer.status == OfferStatus.OPEN,
            Offer.deposit_paid_at.is_(None),
            Offer.group_buy_id.is_(None),
        )
    ).all():
        choice = recommend_for(session, enrollment, spec_of(enrollment.version))
        if choice is None:
            continue
        offer.course_key, offer.reason, offer.score = choice.course.key, choice.reason, choice.score
        offer.personalised, offer.price, offer.updated_at = (
            choice.personalised,
            choice.course.price,
            now,
        )
        changed += 1
    return changed


def sweep_offers(session: Session, now: datetime) -> tuple[int, int]:
    """Open the offers of every cohort whose window is open, close the expired ones.

    What the dispatcher (or ``campaign report offers --sweep``) runs each pass.

    :returns: (offers opened, offers closed).
    """
    opened = 0
    for cohort in session.scalars(select(Cohort).order_by(Cohort.id)):
        opened += open_offers(session, cohort, now)
    return opened, close_expired_offers(session, now)
