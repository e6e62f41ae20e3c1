"""Offers made to enrollments, and the conversions (payments) they led to."""

from __future__ import annotations

from marshmallow import Schema, fields

from campaign.api.base import QuerySchema
from campaign.api.schemas.fields import ident


class OfferQuerySchema(QuerySchema):
    """Filters of the offer list."""

    cohort_id = ident(strict=False, metadata={"description": "Only offers made in this cohort."})
    enrollment_id = ident(
        strict=False, metadata={"description": "Only the offer made to this enrollment."}
    )


class ConversionQuerySchema(QuerySchema):
    """Filters of the conversion list."""

    cohort_id = ident(strict=False, metadata={"description": "Only conversions in this cohort."})


class OfferSchema(Schema):
    """The follow-on course recommended to one enrollment, why, at what price, until when."""

    id = fields.Integer(required=True)
    enrollment_id = fields.Integer(required=True)
    cohort_id = fields.Integer(required=True)
    learner_id = fields.Integer(required=True)
    course_key = fields.String(required=True)
    course_title = fields.String(required=True)
    reason = fields.String(required=True, metadata={"description": "Why this course."})
    score = fields.Float(required=True)
    personalised = fields.Boolean(required=True)
    price = fields.Float(
        required=True, metadata={"description": "What the learner pays now (reverts on close)."}
    )
    course_price = fields.Float(required=True)
    opens_at = fields.AwareDateTime(required=True)
    closes_at = fields.AwareDateTime(required=True)
    status = fields.String(required=True, metadata={"description": "open, converted or closed."})
    deposit_paid_at = fields.AwareDateTime(allow_none=True)
    group_buy_id = fields.Integer(allow_none=True)
    group_buy_size = fields.Integer(allow_none=True)
    group_buy_members = fields.Integer(allow_none=True)
    group_buy_formed_at = fields.AwareDateTime(allow_none=True)


class ConversionSchema(Schema):
    """A payment, attributed to the cohort, advisor, offer, and the last step that reached the
    learner before it (with its template variant)."""

    id = fields.Integer(required=True)
    enrollment_id = fields.Integer(required=True)
    cohort_id = fields.Integer(required=True)
    learner_id = fields.Integer(required=True)
    advisor_id = fields.Integer(allow_none=True)
    offer_id = fields.Integer(allow_none=True)
    course_key = fields.String(required=True)
    amount = fields.Float(required=True)
    paid_at = fields.AwareDateTime(required=True)
    step_key = fields.String(allow_none=True)
    variant = fields.String(allow_none=True)
    delivery_id = fields.Integer(allow_none=True)
    refunded_at = fields.AwareDateTime(allow_none=True)
