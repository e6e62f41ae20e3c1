"""Enrollments: a learner in a cohort, on the journey version they started on."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.db import Base, UTCDateTime, enum_type, utcnow

if TYPE_CHECKING:
    from campaign.models.advisor import Advisor
    from campaign.models.cohort import Cohort
    from campaign.models.journey import JourneyVersion
    from campaign.models.learner import Learner


class EnrollmentState(enum.StrEnum):
    """Where a learner stands in the camp; only ``active`` enrollments receive steps."""

    ACTIVE = "active"
    GRADUATED = "graduated"
    CONVERTED = "converted"
    DROPPED = "dropped"
    OPTED_OUT = "opted_out"


class Enrollment(Base):
    """A learner's place in one cohort, with their advisor.

    ``journey_version_id`` is copied from the cohort when the learner enrolls, so that a later
    change of the cohort's version never moves a learner mid-camp.
    """

    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("cohort_id", "learner_id"),
        # A cohort's enrollments, and its leaderboard (places and class size from the index).
        Index("ix_enrollments_cohort_id_points", "cohort_id", "points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id"), index=True)
    journey_version_id: Mapped[int] = mapped_column(ForeignKey("journey_versions.id"), index=True)
    state: Mapped[EnrollmentState] = mapped_column(
        enum_type(EnrollmentState), default=EnrollmentState.ACTIVE
    )
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by a ``paid`` event: selling steps stop at once for this learner.
    goal_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    points: Mapped[int] = mapped_column(default=0)

    cohort: Mapped[Cohort] = relationship(back_populates="enrollments")
    learner: Mapped[Learner] = relationship(back_populates="enrollments")
    advisor: Mapped[Advisor | None] = relationship()
    version: Mapped[JourneyVersion] = relationship()

    def __repr__(self) -> str:
        return f"<Enrollment cohort={self.cohort_id} learner={self.learner_id} {self.state}>"
