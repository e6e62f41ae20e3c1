"""Advisors (班主任): the humans who send 1v1 messages and work the task queue."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from campaign.db import Base


class Advisor(Base):
    """An advisor; ``daily_task_capacity`` bounds the tasks the governor hands them a day."""

    __tablename__ = "advisors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    wecom_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    daily_task_capacity: Mapped[int | None]

    def __repr__(self) -> str:
        return f"<Advisor {self.id} {self.name!r}>"
