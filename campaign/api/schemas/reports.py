"""The funnel report."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from campaign.api.base import QuerySchema
from campaign.api.schemas.fields import ident
from campaign.offers.funnel import DIMENSIONS


class FunnelQuerySchema(QuerySchema):
    """Which funnel to read."""

    cohort_id = ident(
        strict=False, metadata={"description": "One cohort; all cohorts when left out."}
    )
    by = fields.String(
        load_default="stage",
        validate=validate.OneOf(DIMENSIONS),
        metadata={"description": "Group rows by cohort stage, advisor, tag, step or variant."},
    )


class FunnelRowSchema(Schema):
    """One group: its counts, each stage's rate of the stage before, and the conversion."""

    key = fields.String(required=True)
    label = fields.String(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    did = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Learners with each stage's own fact (not reached later)."},
    )
    rates = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True), required=True)
    anonymous = fields.Integer(
        required=True, metadata={"description": "Of the counts: deleted learners' tallies."}
    )


class FunnelSchema(Schema):
    """joined → attended → homework → consulted → deposit → paid."""

    by = fields.String(required=True)
    cohort_id = fields.Integer(allow_none=True)
    stages = fields.List(fields.String(), required=True)
    columns = fields.List(fields.String(), required=True)
    rows = fields.List(fields.Nested(FunnelRowSchema), required=True)
