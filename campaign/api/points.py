"""Points: ``/api/cohorts/{id}/leaderboard`` and ``/api/enrollments/{id}/redemptions``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, overload

from flask.views import MethodView
from flask_smorest import Page
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.api.base import ApiBlueprint
from campaign.api.errors import abort_field, fail
from campaign.api.lookups import find_cohort, now
from campaign.api.paging import PAGINATION
from campaign.api.schemas.fields import MAX_ID
from campaign.api.schemas.points import RedemptionInSchema, RedemptionSchema, StandingSchema
from campaign.apikeys import Scope
from campaign.db import get_session
from campaign.learners.points import Standing, UnknownCoupon, leaderboard, redeem
from campaign.models import CouponRedemption, Enrollment, Learner

blp = ApiBlueprint(
    "points",
    __name__,
    url_prefix="/api",
    description="Points: a cohort's leaderboard, and coupons bought with points.",
)


class Standings(Sequence[dict[str, Any]]):
    """A leaderboard whose slices carry the learners' external ids (looked up per page)."""

    def __init__(self, session: Session, rows: list[Standing]) -> None:
        self.session = session
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        rows = self.rows[index]
        ids = dict(
            self.session.execute(
                select(Learner.id, Learner.external_id).where(
                    Learner.id.in_([row.learner_id for row in rows])
                )
            ).all()
        )
        return [asdict(row) | {"external_id": ids.get(row.learner_id, "")} for row in rows]


@blp.route("/cohorts/<int:cohort_id>/leaderboard")
class Leaderboard(MethodView):
    @blp.requires(Scope.COHORTS_READ)
    @blp.response(200, StandingSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.paginate(Page, **PAGINATION)
    def get(self, cohort_id: int) -> Standings:
        """Read a cohort's leaderboard

        Highest points first; equal points share a rank and are listed by name. Paginated.
        """
        session = get_session()
        cohort = find_cohort(session, cohort_id)
        return Standings(session, leaderboard(session, cohort.id))


@blp.route("/enrollments/<int:enrollment_id>/redemptions")
class Redemptions(MethodView):
    @blp.requires(Scope.LEARNERS_WRITE)
    @blp.arguments(RedemptionInSchema)
    @blp.response(201, RedemptionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], enrollment_id: int) -> CouponRedemption:
        """Buy a coupon with points

        The points leave the enrollment's balance at once; the response carries the coupon's
        code. 409 when the balance is too low.
        """
        session = get_session()
        if not 1 <= enrollment_id <= MAX_ID or session.get(Enrollment, enrollment_id) is None:
            fail(404, f"enrollment {enrollment_id} does not exist")
        try:
            redemption = redeem(session, enrollment_id, body["coupon_key"], now=now())
        except UnknownCoupon as exc:
            abort_field("json", "coupon_key", str(exc))
        session.commit()
        return redemption
