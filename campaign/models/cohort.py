"""Cohorts (营期): one run of a journey on a version pinned when it opened."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.db import Base, UTCDateTime, enum_type, utcnow

if TYPE_CHECKING:
    from campaign.models.enrollment import Enrollment
    from campaign.models.journey import Journey, JourneyVersion


class CohortState(enum.StrEnum):
    """Whether a cohort runs: ``paused`` holds its sends (deferred, not lost) and its intake."""

    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


class Cohort(Base):
    """A run of a journey starting on ``starts_on`` (its ``D1``) in ``timezone``."""

    __tablename__ = "cohorts"

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"), index=True)
    journey_version_id: Mapped[int] = mapped_column(ForeignKey("journey_versions.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    capacity: Mapped[int | None]
    state: Mapped[CohortState] = mapped_column(enum_type(CohortState), default=CohortState.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    journey: Mapped[Journey] = relationship(back_populates="cohorts")
    version: Mapped[JourneyVersion] = relationship()
    enrollments: Mapped[list[Enrollment]] = relationship(back_populates="cohort")

    def __repr__(self) -> str:
        return f"<Cohort {self.id} {self.title!r} {self.starts_on}>"
