"""Consent evidence, a learner's data export, and what a deletion removed."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from campaign.api.schemas.fields import Text, text
from campaign.models import ConsentKind


class ConsentInSchema(Schema):
    """A grant or withdrawal, with its evidence."""

    class Meta:
        unknown = RAISE

    kind = fields.Enum(
        ConsentKind,
        by_value=True,
        required=True,
        metadata={
            "description": "marketing (withdrawn: an opt-out), personalisation (withdrawn: "
            "offers not chosen from the profile, PIPL art. 24), guardian, showcase."
        },
    )
    granted = fields.Boolean(required=True)
    method = text(
        50,
        load_default="api",
        metadata={"description": "How it was given: form, wecom, api, advisor…"},
    )
    text_shown = Text(
        required=True,
        validate=validate.Length(min=1, max=20_000),
        metadata={"description": "The exact text the learner saw when deciding."},
    )
    recorded_by = text(
        100, metadata={"description": "Who recorded it; defaults to the API key's name."}
    )


class ConsentSchema(Schema):
    """One consent record; the latest of a kind is what holds."""

    id = fields.Integer(required=True)
    kind = fields.Enum(ConsentKind, by_value=True, required=True)
    granted = fields.Boolean(required=True)
    method = fields.String(required=True)
    text_shown = fields.String(required=True)
    recorded_by = fields.String(required=True)
    recorded_at = fields.AwareDateTime(required=True)


# The export's keys follow the tables that hold the learner's rows, so it is documented as an
# open object rather than a marshmallow schema (which would drop keys it does not declare).
EXPORT_SCHEMA = {
    "type": "object",
    "description": "Everything held on the learner: `learner` is their row; every other key "
    "(enrollments, tags, events, deliveries, tasks, points, coupons, offers, conversions, "
    "consent, group_buys…) is a list of rows.",
    "properties": {"learner": {"type": "object"}},
    "required": ["learner"],
    "additionalProperties": {"type": "array", "items": {"type": "object"}},
}


class DeletionSchema(Schema):
    """What a deletion removed; only anonymous funnel counts remain."""

    learner_id = fields.Integer(required=True)
    deleted = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Rows deleted, by table."},
    )
    redacted_texts = fields.Integer(
        required=True, metadata={"description": "Shared texts with the learner's name removed."}
    )
    tallies_added = fields.Integer(required=True)
    deleted_at = fields.String(required=True)
