"""A learner's data: ``GET /api/learners/{external_id}/export`` and ``DELETE`` the learner."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.views import MethodView

from campaign.api.base import ApiBlueprint
from campaign.api.lookups import find_learner, now
from campaign.api.schemas.privacy import EXPORT_SCHEMA, DeletionSchema
from campaign.apikeys import Scope
from campaign.db import get_session
from campaign.privacy import delete_learner, export_learner

blp = ApiBlueprint(
    "privacy",
    __name__,
    url_prefix="/api/learners",
    description="A learner's data: export everything held on them, or delete it everywhere.",
)


@blp.route("/<external_id>/export")
class LearnerExport(MethodView):
    @blp.requires(Scope.PRIVACY_READ)
    @blp.response(200, EXPORT_SCHEMA)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, external_id: str) -> Response:
        """Export a learner's data

        Everything held on the learner, table by table: their row, enrollments, tags, events,
        deliveries with the texts sent, tasks, points, coupons, offers, conversions, consent.
        """
        session = get_session()
        return jsonify(export_learner(session, find_learner(session, external_id).id))


@blp.route("/<external_id>")
class LearnerDeletion(MethodView):
    @blp.requires(Scope.PRIVACY_WRITE)
    @blp.response(200, DeletionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, external_id: str) -> dict[str, Any]:
        """Delete a learner

        Removes the learner's rows from every table and their name from texts shared with
        others; only anonymous counts remain, so cohort funnels stay whole. Cannot be undone.
        """
        session = get_session()
        summary = delete_learner(session, find_learner(session, external_id).id, now=now())
        session.commit()
        return summary
