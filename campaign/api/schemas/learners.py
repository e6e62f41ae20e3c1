"""Learners in and out: the upsert body, the list filters, the learner as the API shows it."""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates

from campaign.api.base import QuerySchema
from campaign.api.schemas.fields import Text, ident, text
from campaign.errors import did_you_mean
from campaign.models import EnrollmentState, TagSource

PHONE = re.compile(r"^\+?\d{5,20}$")
PHONE_NOISE = re.compile(r"[\s\-().]")


@cache
def known_timezones() -> frozenset[str]:
    """Return the IANA timezone names (read once: listing them walks the tz database)."""
    return frozenset(available_timezones())


def check_timezone_name(name: str) -> None:
    """Refuse a name that is not an IANA timezone, suggesting the closest one."""
    if name not in known_timezones():
        hint = did_you_mean(name, known_timezones()) or "; use an IANA name such as 'Asia/Shanghai'"
        raise ValidationError(f"unknown timezone '{name}'{hint}")


class LearnerInSchema(Schema):
    """A learner's details; on update, fields left out keep their value and null clears one."""

    class Meta:
        unknown = RAISE

    name = text(200, metadata={"description": "Required when the learner is new."})
    timezone = Text(
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "IANA timezone for steps that say `tz: learner`."},
    )
    email = fields.Email(allow_none=True, validate=validate.Length(max=320))
    phone = Text(
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={
            "description": "Digits with an optional leading +; spaces and dashes are dropped."
        },
    )
    wecom_external_userid = text(64, allow_none=True)
    birth_date = fields.Date(
        allow_none=True,
        metadata={"description": "Marketing to learners under 14 is suppressed."},
    )
    do_not_disturb = fields.Boolean()

    @validates("timezone")
    def _timezone(self, value: str | None, **kwargs: Any) -> None:
        if value is not None:
            check_timezone_name(value)

    @validates("phone")
    def _phone(self, value: str | None, **kwargs: Any) -> None:
        if value is not None and not PHONE.match(PHONE_NOISE.sub("", value)):
            raise ValidationError("is not a phone number: 5 to 20 digits, optionally after a +")

    @validates("birth_date")
    def _birth_date(self, value: date | None, **kwargs: Any) -> None:
        if value is not None and not date(1900, 1, 1) <= value <= date.today():
            raise ValidationError("must be between 1900-01-01 and today")

    @post_load
    def _normalise_phone(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("phone"):
            data["phone"] = PHONE_NOISE.sub("", data["phone"])
        return data


class LearnerQuerySchema(QuerySchema):
    """Filters of the learner list; all given must hold."""

    cohort_id = ident(
        strict=False, metadata={"description": "Only learners enrolled in this cohort."}
    )
    tag = text(100, metadata={"description": "Only learners with this tag, such as `goal:excel`."})
    opted_out = fields.Boolean(metadata={"description": "Only learners who opted out (or not)."})
    external_id = text(100, metadata={"description": "Only the learner with this id."})


class TagSchema(Schema):
    """A tag on a learner, with who set it and since when."""

    name = fields.String(required=True)
    group = fields.String(required=True)
    source = fields.Enum(TagSource, by_value=True, required=True)
    created_at = fields.AwareDateTime(required=True)


class EnrollmentSchema(Schema):
    """A learner's place in a cohort."""

    id = fields.Integer(required=True)
    cohort_id = fields.Integer(required=True)
    advisor_id = fields.Integer(allow_none=True)
    state = fields.Enum(EnrollmentState, by_value=True, required=True)
    points = fields.Integer(required=True)
    enrolled_at = fields.AwareDateTime(required=True)
    goal_reached_at = fields.AwareDateTime(allow_none=True)


class LearnerSchema(Schema):
    """A learner as the API shows it."""

    external_id = fields.String(required=True)
    name = fields.String(required=True)
    timezone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    wecom_external_userid = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    do_not_disturb = fields.Boolean(required=True)
    personalised_offers = fields.Boolean(
        required=True,
        metadata={"description": "False when the learner asked for non-personalised offers."},
    )
    opted_out_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    tags = fields.List(fields.Nested(TagSchema), required=True)
    enrollments = fields.List(fields.Nested(EnrollmentSchema), required=True)
