"""``/api/reports/funnel``: stage rates per cohort, advisor, tag, step and variant."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from campaign.api.base import ApiBlueprint
from campaign.api.lookups import find_cohort
from campaign.api.schemas.reports import FunnelQuerySchema, FunnelSchema
from campaign.apikeys import Scope
from campaign.db import get_session
from campaign.offers.funnel import funnel

blp = ApiBlueprint(
    "reports",
    __name__,
    url_prefix="/api/reports",
    description="Reports: the conversion funnel.",
)


@blp.route("/funnel")
class Funnel(MethodView):
    @blp.requires(Scope.REPORTS_READ)
    @blp.arguments(FunnelQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, FunnelSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, by: str, cohort_id: int | None = None) -> dict[str, Any]:
        """Read the funnel

        joined → attended → homework → consulted → deposit → paid, with each stage's rate of
        the one before and the conversion, for one cohort or all; deleted learners' anonymous
        counts included. By step or variant: learners reached, paid after, and attributed.
        """
        session = get_session()
        if cohort_id is not None:
            find_cohort(session, cohort_id)
        return funnel(session, cohort_id=cohort_id, by=by).as_dict()
