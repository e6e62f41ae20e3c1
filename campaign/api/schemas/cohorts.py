"""Bulk enrollment into a cohort: the items, and what became of each."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from campaign.api.schemas.fields import ItemByItem, ident, text
from campaign.api.schemas.learners import LearnerInSchema

MAX_BATCH = 1000


class EnrollmentItemSchema(Schema):
    """One learner to enroll."""

    class Meta:
        unknown = RAISE

    external_id = text(100, required=True, metadata={"description": "The learner's id."})
    advisor_id = ident(allow_none=True, metadata={"description": "The advisor (班主任)."})
    learner = fields.Nested(
        LearnerInSchema,
        metadata={
            "description": "The learner's details: creates the learner when missing (then "
            "`name` is required), updates it otherwise."
        },
    )


class EnrollmentBatchSchema(Schema):
    """Up to 1,000 learners to enroll; each is checked on its own."""

    class Meta:
        unknown = RAISE

    enrollments = fields.List(
        ItemByItem(EnrollmentItemSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
    )


class EnrollmentResultSchema(Schema):
    """What became of one item."""

    index = fields.Integer(required=True)
    external_id = fields.String(allow_none=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["enrolled", "already_enrolled", "error"]),
        metadata={"description": "enrolled, already_enrolled (kept as it was) or error."},
    )
    enrollment_id = fields.Integer(allow_none=True)
    learner_created = fields.Boolean(required=True)
    errors = fields.Dict(required=True)


class EnrollmentBatchResultSchema(Schema):
    """Counts, and one result per item in the order sent."""

    enrolled = fields.Integer(required=True)
    already_enrolled = fields.Integer(required=True)
    error = fields.Integer(required=True)
    results = fields.List(fields.Nested(EnrollmentResultSchema), required=True)
