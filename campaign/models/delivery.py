"""Deliveries: one planned send of one step to one target. The schedule lives in these rows.

A row moves ``pending → claimed → sending → sent`` with conditional updates (each checks the
state it expects and the claim token), so whatever a queue re-runs, a row is sent at most once.
Every row ends in a terminal state with a reason.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.db import Base, UTCDateTime, enum_type, utcnow
from campaign.journeys.spec import Audience, Channel

if TYPE_CHECKING:
    from campaign.models.enrollment import Enrollment


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # planned; goes out at due_at
    CLAIMED = "claimed"  # a dispatcher took it and queued it (lease_until bounds the claim)
    SENDING = "sending"  # a worker is calling the channel right now
    SENT = "sent"
    SKIPPED = "skipped"  # the governor or a condition said no; reason says which
    EXPIRED = "expired"  # could not go out within expires_after
    CANCELLED = "cancelled"  # no longer wanted: goal reached, enrollment ended
    FAILED = "failed"  # the channel refused, or retries ran out
    VERIFY = "verify"  # a worker died mid-send on a channel without idempotency: ask a human

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        DeliveryStatus.SENT,
        DeliveryStatus.SKIPPED,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.CANCELLED,
        DeliveryStatus.FAILED,
        DeliveryStatus.VERIFY,
    }
)


class Delivery(Base):
    """One send of step ``step_key`` (occurrence ``occurrence``) to ``target`` in a cohort.

    ``target`` is ``e<enrollment id>`` for 1v1 steps, ``a<advisor id>`` for advisor steps and
    ``c`` for cohort steps: the unique key needs no NULLs that way.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("cohort_id", "target", "step_key", "occurrence"),
        Index("ix_deliveries_status_lease_until", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id"))
    target: Mapped[str] = mapped_column(String(32))
    audience: Mapped[Audience] = mapped_column(enum_type(Audience), default=Audience.LEARNER)
    step_key: Mapped[str] = mapped_column(String(100))
    occurrence: Mapped[str] = mapped_column(String(64))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
    priority: Mapped[int] = mapped_column(default=50)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime)  # expires_after counts from here
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # next attempt (moved by deferrals)
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    reason: Mapped[str | None] = mapped_column(String(200))
    claim_token: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    variant: Mapped[str | None] = mapped_column(String(40))
    text: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    enrollment: Mapped[Enrollment | None] = relationship()

    @property
    def idempotency_key(self) -> str:
        """Return the key channels de-duplicate on: the same for every retry of this row."""
        return idempotency_key_of(self.id)

    def __repr__(self) -> str:
        return f"<Delivery {self.id} {self.step_key}/{self.occurrence} {self.target} {self.status}>"


def idempotency_key_of(delivery_id: int) -> str:
    """Return the key channels de-duplicate a delivery's sends on (the same for every retry)."""
    return f"campaign-delivery-{delivery_id}"


# The dispatcher's claim order, pending rows only (migration 0006 says why).
Index(
    "ix_deliveries_pending_due_at",
    Delivery.due_at,
    Delivery.priority.desc(),
    postgresql_where=Delivery.status == DeliveryStatus.PENDING,
    sqlite_where=Delivery.status == DeliveryStatus.PENDING,
)
