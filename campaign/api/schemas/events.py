"""Learning events in a batch, and what became of each one."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from campaign.api.schemas.fields import MAX_ID, Instant, ItemByItem, Payload, Text, ident, text
from campaign.journeys.spec import BUILTIN_EVENTS

MAX_BATCH = 1000
EVENT_NAME = r"^[a-z][a-z0-9_]{0,63}$"
# Recorded by Campaign itself when it happens; an integration posting them would double count.
INTERNAL_EVENTS = frozenset({"enrolled", "task_done"})
API_EVENTS = tuple(name for name in BUILTIN_EVENTS if name not in INTERNAL_EVENTS)
REQUIRED_PAYLOAD = {"survey_answered": ("question", "answer"), "replied": ("text",)}


def _answer(value: Any) -> None:
    answers = value if isinstance(value, list) else [value]
    if not answers or not all(isinstance(one, str | int | float) for one in answers):
        raise ValidationError("must be text, a number, or a list of them")


class PayloadSchema(Schema):
    """The payload keys Campaign reads; any other key is kept as sent."""

    class Meta:
        unknown = INCLUDE

    cohort_id = ident(metadata={"description": "The cohort the event is about (learners in two)."})
    course = text(100, metadata={"description": "paid, refunded: the course key."})
    amount = fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0, max=10**9),
        metadata={"description": "paid: the money, in yuan."},
    )
    rank = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "contest_scored: the place, 1 for the winner."},
    )
    score = fields.Float(allow_nan=False, metadata={"description": "contest_scored: the score."})
    group_buy_id = ident(metadata={"description": "group_buy_joined: the group to join."})
    question = text(500, metadata={"description": "survey_answered: the question (required)."})
    answer = fields.Raw(
        validate=_answer,
        metadata={"description": "survey_answered: the answer, or a list of answers (required)."},
    )
    reply_text = Text(
        data_key="text",
        validate=validate.Length(max=4000),
        metadata={"description": "replied: what the learner wrote (required)."},
    )


class EventInSchema(Schema):
    """One learning event."""

    class Meta:
        unknown = RAISE

    event_id = text(
        100,
        required=True,
        metadata={"description": "Your id of the event: posting it again changes nothing."},
    )
    learner = text(100, required=True, metadata={"description": "The learner's `external_id`."})
    type = text(
        64,
        required=True,
        validate=validate.Regexp(EVENT_NAME, error="must be lowercase letters, digits and _"),
        metadata={
            "description": f"Built in: {', '.join(API_EVENTS)}; or a custom name such as "
            "`quiz_passed`."
        },
    )
    occurred_at = Instant(
        required=True, metadata={"description": "When it happened, with a UTC offset."}
    )
    payload = Payload(
        load_default=dict,
        metadata={"description": "Details; see docs/api.md for the keys each type reads."},
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        name = data.get("type")
        if name in INTERNAL_EVENTS:
            raise ValidationError(
                f"'{name}' is recorded by Campaign itself; enroll learners with "
                "POST /api/cohorts/{id}/enrollments",
                "type",
            )
        payload = data.get("payload")
        if not isinstance(payload, dict):
            return
        errors = PayloadSchema().validate(payload)
        for key in REQUIRED_PAYLOAD.get(str(name), ()):
            if key not in payload:
                errors.setdefault(key, []).append(f"is required for a {name} event")
        if errors:
            raise ValidationError(errors, "payload")

    @post_load
    def _normalise_payload(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Keep the payload with the keys Campaign reads loaded (``"12.5"`` becomes 12.5)."""
        payload = PayloadSchema().load(data["payload"])
        if "reply_text" in payload:
            payload["text"] = payload.pop("reply_text")
        data["payload"] = payload
        return data


class EventBatchSchema(Schema):
    """Up to 1,000 events; each is checked on its own."""

    class Meta:
        unknown = RAISE

    events = fields.List(
        ItemByItem(EventInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
    )


class ItemResultSchema(Schema):
    """What became of one item of a batch."""

    index = fields.Integer(required=True, metadata={"description": "Its place in the batch."})
    event_id = fields.String(allow_none=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["accepted", "duplicate", "error"]),
        metadata={"description": "accepted, duplicate (already taken in) or error."},
    )
    errors = fields.Dict(
        required=True, metadata={"description": "Messages by field; empty unless status is error."}
    )


class EventBatchResultSchema(Schema):
    """Counts, and one result per event in the order sent."""

    accepted = fields.Integer(required=True)
    duplicate = fields.Integer(required=True)
    error = fields.Integer(required=True)
    results = fields.List(fields.Nested(ItemResultSchema), required=True)
