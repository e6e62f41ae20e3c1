"""Offers, group-buys and conversions: what was recommended to whom, and what it led to."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaign.db import Base, UTCDateTime, enum_type, utcnow


class OfferStatus(enum.StrEnum):
    OPEN = "open"
    CONVERTED = "converted"
    CLOSED = "closed"  # the window passed without payment: the price reverts


class Offer(Base):
    """The follow-on course recommended to one enrollment, with why and until when."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), unique=True
    )
    course_key: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(default=0.0)
    personalised: Mapped[bool] = mapped_column(Boolean, default=True)
    price: Mapped[float]
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[OfferStatus] = mapped_column(enum_type(OfferStatus), default=OfferStatus.OPEN)
    deposit_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    group_buy_id: Mapped[int | None] = mapped_column(ForeignKey("group_buys.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GroupBuy(Base):
    """拼团: forms when ``size`` members have joined; members are the offers pointing here."""

    __tablename__ = "group_buys"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    course_key: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    formed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversion(Base):
    """A payment, attributed to the cohort, advisor, offer and the last step and variant that
    reached the learner before it."""

    __tablename__ = "conversions"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    course_key: Mapped[str] = mapped_column(String(100))
    amount: Mapped[float]
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("learner_events.id", ondelete="SET NULL"), unique=True
    )
    step_key: Mapped[str | None] = mapped_column(String(100))
    variant: Mapped[str | None] = mapped_column(String(40))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
