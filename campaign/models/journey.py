"""Journeys and their published, immutable versions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from campaign.models.cohort import Cohort


class Journey(Base):
    """A journey as marketers name it (``python-camp``); its content lives in its versions."""

    __tablename__ = "journeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[JourneyVersion]] = relationship(
        back_populates="journey", order_by="JourneyVersion.number"
    )
    cohorts: Mapped[list[Cohort]] = relationship(back_populates="journey")

    def __repr__(self) -> str:
        return f"<Journey {self.key}>"


class JourneyVersion(Base):
    """One published content of a journey, never changed afterwards.

    Cohorts and enrollments point at a version, so a learner finishes on the text they began
    with whatever is published later. ``content_hash`` is of the YAML data, not its text, so
    re-publishing with only comments or formatting changed makes no new version.
    """

    __tablename__ = "journey_versions"
    __table_args__ = (
        UniqueConstraint("journey_id", "number"),
        UniqueConstraint("journey_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"), index=True)
    number: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    spec_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    filename: Mapped[str] = mapped_column(String(500))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    journey: Mapped[Journey] = relationship(back_populates="versions")

    @property
    def short_hash(self) -> str:
        """Return the first 12 hex digits, enough to name a version on the command line."""
        return self.content_hash[:12]

    def __repr__(self) -> str:
        return f"<JourneyVersion {self.journey_id} v{self.number} {self.short_hash}>"
