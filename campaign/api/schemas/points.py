"""The leaderboard and coupons bought with points."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields

from campaign.api.schemas.fields import text


class StandingSchema(Schema):
    """One place on a cohort's leaderboard; equal points share a rank (1, 1, 3)."""

    rank = fields.Integer(required=True)
    enrollment_id = fields.Integer(required=True)
    external_id = fields.String(required=True, metadata={"description": "The learner's id."})
    name = fields.String(required=True)
    points = fields.Integer(required=True)
    advisor_id = fields.Integer(allow_none=True)


class RedemptionInSchema(Schema):
    """The coupon to buy with points."""

    class Meta:
        unknown = RAISE

    coupon_key = text(100, required=True, metadata={"description": "A coupon of the journey."})


class RedemptionSchema(Schema):
    """A coupon bought with points, and its code."""

    id = fields.Integer(required=True)
    enrollment_id = fields.Integer(required=True)
    coupon_key = fields.String(required=True)
    points = fields.Integer(required=True)
    code = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
