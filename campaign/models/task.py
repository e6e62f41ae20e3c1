"""Tasks: work for a human advisor, such as a 1v1 message to send by hand before a deadline."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaign.db import Base, UTCDateTime, enum_type, utcnow


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    SENT = "sent"  # the advisor sent it (copy, sidebar, voice)
    SKIPPED = "skipped"  # the advisor decided not to, with a reason
    POSTPONED = "postponed"  # back in the queue at postponed_until


class Task(Base):
    """An advisor's to-do created by an ``advisor_task`` delivery (one task per delivery)."""

    __tablename__ = "tasks"
    __table_args__ = (
        # The advisor's queue: open tasks by deadline (and the counts beside it).
        Index("ix_tasks_advisor_id_status_due_at", "advisor_id", "status", "due_at"),
        # What the advisor closed on a given day (the reply report).
        Index("ix_tasks_advisor_id_done_at", "advisor_id", "done_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True
    )
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id"))
    step_key: Mapped[str] = mapped_column(String(100))
    script: Mapped[str] = mapped_column(Text)
    voice: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the SLA deadline
    status: Mapped[TaskStatus] = mapped_column(enum_type(TaskStatus), default=TaskStatus.OPEN)
    outcome_reason: Mapped[str | None] = mapped_column(String(200))
    postponed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.step_key} advisor={self.advisor_id} {self.status}>"
