"""``/api/learners/{external_id}/consent``: consent evidence, kept and acted on at once."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Page

from campaign.api.base import ApiBlueprint
from campaign.api.lookups import find_learner, now
from campaign.api.paging import PAGINATION
from campaign.api.schemas.privacy import ConsentInSchema, ConsentSchema
from campaign.apikeys import Scope
from campaign.consent import consent_history, record_consent
from campaign.db import get_session
from campaign.models import ConsentRecord

blp = ApiBlueprint(
    "consent",
    __name__,
    url_prefix="/api/learners",
    description="Consent: who agreed to what, when, how, and the exact text they were shown.",
)


@blp.route("/<external_id>/consent")
class LearnerConsent(MethodView):
    @blp.requires(Scope.LEARNERS_READ)
    @blp.response(200, ConsentSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.paginate(Page, **PAGINATION)
    def get(self, external_id: str) -> list[ConsentRecord]:
        """List a learner's consent records

        Oldest first; the latest record of each kind is what holds. Paginated.
        """
        session = get_session()
        return consent_history(session, find_learner(session, external_id).id)

    @blp.requires(Scope.LEARNERS_WRITE)
    @blp.arguments(ConsentInSchema)
    @blp.response(201, ConsentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, evidence: dict[str, Any], external_id: str) -> ConsentRecord:
        """Record consent

        A grant or a withdrawal, with how it was given and the exact text shown; records are
        never changed. Withdrawing `marketing` opts the learner out at once (a new grant lifts
        it); withdrawing `personalisation` makes their offers non-personalised.
        """
        session = get_session()
        learner = find_learner(session, external_id)
        record = record_consent(
            session,
            learner.id,
            kind=evidence["kind"],
            granted=evidence["granted"],
            method=evidence["method"],
            text_shown=evidence["text_shown"],
            recorded_by=evidence.get("recorded_by") or f"api key {g.api_key.name}"[:100],
            now=now(),
        )
        session.commit()
        return record
