"""Points: an append-only ledger per enrollment, and coupons bought with points."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaign.db import Base, UTCDateTime, utcnow


class PointsEntry(Base):
    """One change of an enrollment's points; never updated or deleted (corrections are new rows).

    ``Enrollment.points`` is the running total of these rows, kept in the same transaction.
    One event earns its points once: (enrollment, event, reason) is unique.
    """

    __tablename__ = "points_entries"
    __table_args__ = (UniqueConstraint("enrollment_id", "event_id", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    delta: Mapped[int]
    reason: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("learner_events.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CouponRedemption(Base):
    """A coupon an enrollment bought with points (the points are a negative ledger entry)."""

    __tablename__ = "coupon_redemptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    coupon_key: Mapped[str] = mapped_column(String(100))
    points: Mapped[int]
    code: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
