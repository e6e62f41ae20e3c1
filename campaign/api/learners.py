"""``/api/learners``: learners by the school's own id: upsert, list, read."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from campaign.api.base import ApiBlueprint
from campaign.api.errors import abort_field
from campaign.api.lookups import MAX_EXTERNAL_ID, find_learner, now
from campaign.api.paging import PAGINATION, Listing, SelectPage
from campaign.api.schemas.fields import check_storable_text
from campaign.api.schemas.learners import LearnerInSchema, LearnerQuerySchema, LearnerSchema
from campaign.api.upserts import NameRequired, upsert_learner
from campaign.apikeys import Scope
from campaign.db import get_session
from campaign.models import Enrollment, Learner, Tag

blp = ApiBlueprint(
    "learners",
    __name__,
    url_prefix="/api/learners",
    description="Learners, identified by the school's own id (`external_id`).",
)


def learner_listing(filters: dict[str, Any]) -> Listing:
    """Return the learners matching ``filters``, oldest first, tags and enrollments loaded."""
    query = (
        select(Learner)
        .options(selectinload(Learner.tags), selectinload(Learner.enrollments))
        .order_by(Learner.id)
    )
    if "cohort_id" in filters:
        query = query.where(
            Learner.id.in_(
                select(Enrollment.learner_id).where(Enrollment.cohort_id == filters["cohort_id"])
            )
        )
    if "tag" in filters:
        query = query.where(
            Learner.id.in_(select(Tag.learner_id).where(Tag.name == filters["tag"]))
        )
    if "opted_out" in filters:
        opted = Learner.opted_out_at.is_not(None)
        query = query.where(opted if filters["opted_out"] else ~opted)
    if "external_id" in filters:
        query = query.where(Learner.external_id == filters["external_id"])
    return Listing(get_session(), query)


@blp.route("")
class Learners(MethodView):
    @blp.requires(Scope.LEARNERS_READ)
    @blp.arguments(LearnerQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, LearnerSchema(many=True))
    @blp.paginate(SelectPage, **PAGINATION)
    def get(self, **filters: Any) -> Listing:
        """List learners

        Oldest first; filters combine. Paginated: see the `X-Pagination` header.
        """
        return learner_listing(filters)


@blp.route("/<external_id>")
class LearnerByExternalId(MethodView):
    @blp.requires(Scope.LEARNERS_READ)
    @blp.response(200, LearnerSchema)
    def get(self, external_id: str) -> Learner:
        """Read a learner

        With the learner's tags and enrollments.
        """
        return find_learner(get_session(), external_id)

    @blp.requires(Scope.LEARNERS_WRITE)
    @blp.arguments(LearnerInSchema)
    @blp.response(200, LearnerSchema, description="The learner existed and was updated.")
    @blp.alt_response(201, schema=LearnerSchema, description="The learner was created.")
    def put(self, details: dict[str, Any], external_id: str) -> tuple[Learner, int]:
        """Create or update a learner

        Upsert by `external_id`: a new learner needs `name`; on update, fields left out keep
        their value and `null` clears one. Opting out is an `opted_out` event, and the choice of
        non-personalised offers is a `personalisation` consent record.
        """
        check_external_id(external_id)
        session = get_session()
        try:
            learner, created = upsert_learner(session, external_id, details, now=now())
        except NameRequired as exc:
            abort_field("json", "name", str(exc))
        session.commit()
        return learner, 201 if created else 200


def check_external_id(external_id: str) -> None:
    """Refuse an external id the learners table cannot hold (answer 422 on the path)."""
    problem = None
    if not external_id.strip() or external_id != external_id.strip():
        problem = "must not be empty or start or end with blanks"
    elif len(external_id) > MAX_EXTERNAL_ID:
        problem = f"is longer than {MAX_EXTERNAL_ID} characters"
    else:
        try:
            check_storable_text(external_id)
        except ValidationError as exc:
            problem = " ".join(map(str, exc.messages))
    if problem is not None:
        abort_field("path", "external_id", problem)
