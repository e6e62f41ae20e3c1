"""Tags given to a learner through the API."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validates
from marshmallow.validate import Regexp

from campaign.api.schemas.fields import text
from campaign.models import TagSource, tag_group

MAX_GROUP_LENGTH = 50  # the column's size
# The form of ``campaign.models.tag.TAG_NAME`` with the group bounded by its column, so that
# the spec says it too.
TAG_PATTERN = rf"^[a-z][a-z0-9_-]{{0,{MAX_GROUP_LENGTH - 1}}}:\S+$"
API_SOURCES = (TagSource.SURVEY, TagSource.ADVISOR, TagSource.EVENT, TagSource.IMPORT)


def check_tag(name: str) -> None:
    """Refuse a name that is not ``group:value`` or whose group is too long to store."""
    try:
        group = tag_group(name)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    if len(group) > MAX_GROUP_LENGTH:
        raise ValidationError(
            f"the group '{group[:20]}…' is longer than {MAX_GROUP_LENGTH} characters"
        )


class TagInSchema(Schema):
    """A tag to give a learner."""

    class Meta:
        unknown = RAISE

    name = text(
        100,
        required=True,
        validate=Regexp(TAG_PATTERN, error="is not 'group:value' (lowercase group, no spaces)"),
        metadata={"description": "`group:value`, such as `goal:excel-automation`."},
    )
    source = fields.Enum(
        TagSource,
        by_value=True,
        load_default=TagSource.IMPORT,
        metadata={
            "description": "Who set it: survey, advisor, event or import (the default). In a "
            "ranked group (intent, stage) only an advisor may move a learner down."
        },
    )

    @validates("name")
    def _name(self, value: str, **kwargs: Any) -> None:
        check_tag(value)

    @validates("source")
    def _source(self, value: TagSource, **kwargs: Any) -> None:
        if value not in API_SOURCES:
            raise ValidationError("'rule' tags are set by the journey's rules; use another source")
