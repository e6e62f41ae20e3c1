"""A camp for the learner features: tag rules, points, coupons and a silence rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.events import ingest_event
from campaign.models import Enrollment, Learner, Tag
from tests.engine.helpers import Camp

JOURNEY = """\
journey: engine-camp
title: 学员测试营
timezone: Asia/Shanghai
days: 7
events: [poll_voted]
milestones:
  awards: {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
tag_rules:
  - {on: survey_answered, question: goal, answer: A, tag: "goal:excel-automation"}
  - {on: survey_answered, question: goal, answer: B, tag: "goal:data-collection"}
  - {on: replied, keywords: [多少钱, 怎么报, price], tag: "intent:A"}
  - {on: poll_voted, tag: "intent:B"}
  - {silent_for: 3d, tag: "activity:silent"}
points:
  checked_in: 2
  homework_submitted: 10
  attended_live: 5
  contest_scored: {by_rank: [50, 30, 20], default: 5}
coupons:
  coupon-50: {title: 50 元优惠券, points: 100, value: 50}
  coupon-10: {title: 10 元优惠券, points: 20, value: 10}
steps:
  - key: standing
    at: "D5 09:00"
    channel: log
    template: "{{ learner.name }}:{{ learner.points }} 分,第 {{ learner.rank }} 名"
"""


def post(
    camp: Camp,
    learner: Learner,
    name: str,
    at: datetime,
    payload: dict[str, Any] | None = None,
    external_id: str | None = None,
) -> None:
    """Take in one event through the real intake (record + effects) and commit."""
    ingest_event(
        camp.session,
        learner_id=learner.id,
        name=name,
        occurred_at=at,
        now=at,
        payload=payload,
        external_id=external_id,
    )
    camp.session.commit()


def tags_of(session: Session, learner: Learner) -> dict[str, str]:
    """Return the learner's tags as name → source."""
    session.expire_all()
    rows = session.execute(select(Tag.name, Tag.source).where(Tag.learner_id == learner.id))
    return {name: str(source) for name, source in rows}


def enrollment_of(session: Session, learner: Learner) -> Enrollment:
    session.expire_all()
    return session.scalars(select(Enrollment).where(Enrollment.learner_id == learner.id)).one()
