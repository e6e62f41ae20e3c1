"""What the API's views share: "now", and finding what a path names or answering 404."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.api.errors import fail
from campaign.api.schemas.fields import MAX_ID
from campaign.clock import clock_from_config
from campaign.models import Cohort, Learner

MAX_EXTERNAL_ID = 100  # the column's size


def now() -> datetime:
    """Return the current instant on the configured clock (a demo may warp it)."""
    return clock_from_config(current_app.config).now()


def find_learner(session: Session, external_id: str) -> Learner:
    """Return the learner the school calls ``external_id``, or answer 404."""
    learner = None
    if len(external_id) <= MAX_EXTERNAL_ID and "\x00" not in external_id:
        learner = session.scalar(select(Learner).where(Learner.external_id == external_id))
    if learner is None:
        fail(
            404,
            message=f"no learner has the external id '{external_id[:MAX_EXTERNAL_ID]}'; "
            "create it with PUT /api/learners/{external_id}",
        )
    return learner


def find_cohort(session: Session, cohort_id: int) -> Cohort:
    """Return cohort ``cohort_id``, or answer 404."""
    cohort = session.get(Cohort, cohort_id) if 1 <= cohort_id <= MAX_ID else None
    if cohort is None:
        fail(404, f"cohort {cohort_id} does not exist; 'campaign cohorts list' shows them")
    return cohort
