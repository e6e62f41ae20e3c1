"""Learner events: facts from outside (check-ins, homework, payments) and from inside."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from campaign.db import Base, UTCDateTime, utcnow


class LearnerEvent(Base):
    """Something that happened to a learner at ``occurred_at``.

    ``external_id`` makes posting the same event twice harmless (the integration's own id).
    Conditions read these rows at send time, so "not submitted today" sees today's homework.
    """

    __tablename__ = "learner_events"
    __table_args__ = (Index("ix_learner_events_learner_id_name", "learner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(32), default="api")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
