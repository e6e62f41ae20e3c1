"""What ``{{ offer.* }}`` shows in one message: the stored offer, so every text agrees.

Before the window opens nothing is stored yet; a step that mentions the offer then shows a
preview of the recommendation (same scoring, not saved). A step's ``course:`` pins the course
it talks about; the reason and price follow that course.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from campaign.journeys.spec import JourneySpec
from campaign.messages import context as ctx
from campaign.models import Enrollment
from campaign.offers.recommend import reason_for
from campaign.offers.service import ensure_offer, recommend_for


def offer_for_send(
    session: Session,
    enrollment: Enrollment,
    spec: JourneySpec,
    *,
    pinned: str | None,
    now: datetime,
) -> ctx.Offer | None:
    """Return the offer to render for ``enrollment`` at ``now`` (None when nothing to offer)."""
    if not spec.courses:
        return None
    stored = ensure_offer(session, enrollment, at=now, now=now)
    if (
        pinned is not None
        and pinned in spec.courses
        and (stored is None or stored.course_key != pinned)
    ):
        course = spec.courses[pinned]
        tags = ctx.learner_tags(session, enrollment.learner_id)
        matched = next((t for t in course.for_tags if t in tags), None)
        personalised = enrollment.learner.personalised_offers
        reason = reason_for(course, matched if personalised else None)
        return ctx.Offer(course, reason, price=course.price, personalised=personalised)
    if stored is not None and stored.course_key in spec.courses:
        return ctx.Offer(
            spec.courses[stored.course_key],
            stored.reason,
            price=stored.price,
            personalised=stored.personalised,
        )
    choice = recommend_for(session, enrollment, spec)
    if choice is None:
        return None
    return ctx.Offer(
        choice.course, choice.reason, price=choice.course.price, personalised=choice.personalised
    )
