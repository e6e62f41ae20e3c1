"""Consent evidence: who agreed to what, when, how, and the exact text they were shown."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaign.db import Base, UTCDateTime, enum_type, utcnow


class ConsentKind(enum.StrEnum):
    MARKETING = "marketing"  # course offers and promotions
    PERSONALISATION = "personalisation"  # recommendations from the learner's tags (PIPL art. 24)
    GUARDIAN = "guardian"  # a guardian's consent for a learner under 14
    SHOWCASE = "showcase"  # the learner's work may be shown to others


class ConsentRecord(Base):
    """One grant or withdrawal; the latest record of a kind is what holds. Never updated."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ConsentKind] = mapped_column(enum_type(ConsentKind))
    granted: Mapped[bool] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(String(50))  # form, wecom, api, advisor, unsubscribe-link
    text_shown: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnonymousTally(Base):
    """Counts kept after learners' data is deleted, so cohort funnels stay whole."""

    __tablename__ = "anonymous_tallies"
    __table_args__ = (UniqueConstraint("cohort_id", "metric"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(64))  # e.g. "enrolled", "stage:paid"
    count: Mapped[int] = mapped_column(default=0)
