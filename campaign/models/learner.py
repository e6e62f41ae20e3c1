"""Learners: the people in camps, identified by the school's own id (``external_id``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Date, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from campaign.models.enrollment import Enrollment
    from campaign.models.tag import Tag


class Learner(Base):
    """A learner; ``birth_date`` is kept because marketing to under-14s is suppressed."""

    __tablename__ = "learners"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    wecom_external_userid: Mapped[str | None] = mapped_column(String(64))
    birth_date: Mapped[date | None] = mapped_column(Date)
    # Consent is absolute: an opt-out on any channel stops marketing on all of them.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    do_not_disturb: Mapped[bool] = mapped_column(Boolean, default=False)
    # PIPL art. 24: a learner may ask for offers that are not chosen from their profile.
    personalised_offers: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    enrollments: Mapped[list[Enrollment]] = relationship(back_populates="learner")
    tags: Mapped[list[Tag]] = relationship(
        back_populates="learner", cascade="all, delete-orphan", order_by="Tag.name"
    )

    def is_minor(self, today: date) -> bool:
        """Tell whether the learner is under 14 on ``today`` (unknown birth date: not a minor)."""
        return is_minor_on(self.birth_date, today)

    def __repr__(self) -> str:
        return f"<Learner {self.external_id} {self.name!r}>"


def is_minor_on(birth_date: date | None, today: date) -> bool:
    """Tell whether someone born on ``birth_date`` is under 14 on ``today`` (unknown: no)."""
    if birth_date is None:
        return False
    age = (
        today.year
        - birth_date.year
        - ((today.month, today.day) < (birth_date.month, birth_date.day))
    )
    return age < 14
