"""What the learned part of a recommendation reads: conversion observed per course and tag.

Kept apart from the offer rows because it is a read-only aggregate over past cohorts, and
because the send path reads it through a short cache (see :func:`cached_evidence`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.models import Conversion, Enrollment, Learner, Offer, OfferStatus, Tag
from campaign.offers.recommend import LearnerTag, Observed, Stats


def observed_stats(session: Session) -> dict[tuple[str, str], Observed]:
    """Return decided offers and conversions per (course, tag), for the learned part of scoring.

    Only decided offers count (converted, or closed without a sale); only tags the learner had
    while the offer ran; only learners who allow personalisation; a refunded sale or a sale of
    another course is no conversion of the offered course.
    """
    decided = (OfferStatus.CONVERTED, OfferStatus.CLOSED)
    query = (
        select(
            Offer.course_key,
            Tag.name,
            func.count(func.distinct(Offer.id)),
            func.count(func.distinct(Conversion.id)),
        )
        .join(Enrollment, Enrollment.id == Offer.enrollment_id)
        .join(Learner, Learner.id == Enrollment.learner_id)
        .join(Tag, Tag.learner_id == Enrollment.learner_id)
        .outerjoin(
            Conversion,
            (Conversion.offer_id == Offer.id)
            & (Conversion.course_key == Offer.course_key)
            & Conversion.refunded_at.is_(None),
        )
        .where(
            Offer.status.in_(decided),
            Learner.personalised_offers.is_(True),
            Tag.created_at <= Offer.closes_at,
        )
        .group_by(Offer.course_key, Tag.name)
    )
    return {
        (course, tag): Observed(int(offers), int(converted))
        for course, tag, offers, converted in session.execute(query)
    }


def popularity(session: Session) -> dict[str, int]:
    """Return non-refunded sales per course: what a non-personalised offer goes by."""
    query = (
        select(Conversion.course_key, func.count(Conversion.id))
        .where(Conversion.refunded_at.is_(None))
        .group_by(Conversion.course_key)
    )
    return {course: int(count) for course, count in session.execute(query)}


_EVIDENCE_TTL = 300.0  # seconds: learned rates move over cohorts, not minutes
_evidence_cache: dict[str, tuple[float, Stats, dict[str, int]]] = {}


def cached_evidence(session: Session) -> tuple[Stats, dict[str, int]]:
    """Return (observed stats, sales per course), re-read at most every few minutes.

    The send path creates offers one enrollment at a time when no sweep made them; without this
    each of those sends would aggregate every past offer again.
    """
    key = session.get_bind().engine.url.render_as_string(hide_password=True)
    hit = _evidence_cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < _EVIDENCE_TTL:
        return hit[1], hit[2]
    stats, sales = observed_stats(session), popularity(session)
    _evidence_cache[key] = (time.monotonic(), stats, sales)
    return stats, sales


def clear_evidence_cache() -> None:
    """Forget cached statistics (tests, or after importing past conversions)."""
    _evidence_cache.clear()


def learner_tags(session: Session, learner_ids: Iterable[int]) -> dict[int, list[LearnerTag]]:
    """Return each learner's tags with their sources."""
    tags: dict[int, list[LearnerTag]] = {}
    ids = sorted(set(learner_ids))
    for start in range(0, len(ids), 1000):
        rows = session.execute(
            select(Tag.learner_id, Tag.name, Tag.source).where(
                Tag.learner_id.in_(ids[start : start + 1000])
            )
        )
        for learner_id, name, source in rows:
            tags.setdefault(learner_id, []).append(LearnerTag(name, str(source)))
    return tags
