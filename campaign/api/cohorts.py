"""``/api/cohorts/{id}/enrollments``: learners enrolled into a cohort in bulk."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from campaign.api.base import ApiBlueprint
from campaign.api.enrolling import EnrollmentStatus, enroll_batch
from campaign.api.errors import fail
from campaign.api.lookups import find_cohort, now
from campaign.api.schemas.cohorts import EnrollmentBatchResultSchema, EnrollmentBatchSchema
from campaign.apikeys import Scope
from campaign.db import get_session
from campaign.models import CohortState

blp = ApiBlueprint(
    "cohorts",
    __name__,
    url_prefix="/api/cohorts",
    description="Cohorts (营期): enroll learners in bulk.",
)


@blp.route("/<int:cohort_id>/enrollments")
class CohortEnrollments(MethodView):
    @blp.requires(Scope.COHORTS_WRITE)
    @blp.arguments(EnrollmentBatchSchema)
    @blp.response(200, EnrollmentBatchResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, batch: dict[str, Any], cohort_id: int) -> dict[str, Any]:
        """Enroll learners into a cohort

        Up to 1,000 learners by `external_id`, each with an optional `advisor_id`. A learner
        that does not exist is created from `learner` (which then needs `name`); one that
        exists is updated from it. Enrolling again keeps the enrollment (`already_enrolled`).
        Each item is checked on its own; the response lists what became of each, in order.
        A cohort that is paused or closed takes no enrollments (409).
        """
        session = get_session()
        cohort = find_cohort(session, cohort_id)
        if cohort.state is not CohortState.OPEN:
            fail(409, f"cohort {cohort_id} is {cohort.state}: it takes no enrollments")
        results = enroll_batch(session, cohort, batch["enrollments"], now=now())
        counts = {status.value: 0 for status in EnrollmentStatus}
        for result in results:
            counts[result.status.value] += 1
        return {**counts, "results": results}
