"""Tags: labels on a learner (``goal:excel-automation``), grouped by their prefix."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from campaign.db import Base, UTCDateTime, enum_type, utcnow

if TYPE_CHECKING:
    from campaign.models.learner import Learner

TAG_NAME = re.compile(r"^(?P<group>[a-z][a-z0-9_-]{0,49}):(?P<value>\S{1,48})$")


class TagSource(enum.StrEnum):
    """Who set the tag: recommendations weigh a survey answer differently from a guess."""

    SURVEY = "survey"
    RULE = "rule"
    ADVISOR = "advisor"
    EVENT = "event"
    IMPORT = "import"


def tag_group(name: str) -> str:
    """Return the group of a tag name (``goal`` for ``goal:excel-automation``).

    :raises ValueError: when the name is not ``group:value``; the message shows the form.
    """
    match = TAG_NAME.match(name)
    if not match:
        raise ValueError(
            f"tag {name!r} is not 'group:value' (lowercase group, no spaces), "
            "such as 'goal:excel-automation'"
        )
    return match["group"]


class Tag(Base):
    """One tag on one learner; ``group`` is derived from ``name`` and never set by hand."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("learner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    group: Mapped[str] = mapped_column(String(50), index=True)
    source: Mapped[TagSource] = mapped_column(enum_type(TagSource))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    learner: Mapped[Learner] = relationship(back_populates="tags")

    @validates("name")
    def _derive_group(self, key: str, name: str) -> str:
        self.group = tag_group(name)
        return name

    def __repr__(self) -> str:
        return f"<Tag {self.name} learner={self.learner_id} ({self.source})>"
