"""Enroll a batch of learners into a cohort, creating the missing ones from inline details.

Each item is checked on its own (schema, advisor, learner, repeats, capacity); the good ones
are enrolled together through :func:`campaign.messages.planning.enroll`, which plans their
deliveries in bulk. One transaction: learners created inline and their enrollments land
together.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.api.schemas.cohorts import EnrollmentItemSchema
from campaign.api.schemas.fields import load_item
from campaign.api.upserts import NameRequired, apply_details, learners_by_external_id
from campaign.events import enroll_learners
from campaign.messages.planning import NewEnrollment
from campaign.models import Advisor, Cohort, Enrollment, Learner


class EnrollmentStatus(enum.StrEnum):
    ENROLLED = "enrolled"
    ALREADY_ENROLLED = "already_enrolled"
    ERROR = "error"


@dataclass
class EnrollmentResult:
    """What became of one item."""

    index: int
    external_id: str | None
    status: EnrollmentStatus = EnrollmentStatus.ENROLLED
    enrollment_id: int | None = None
    learner_created: bool = False
    errors: dict[str, Any] = field(default_factory=dict)

    def fail(self, field_name: str, message: Any) -> None:
        self.status = EnrollmentStatus.ERROR
        self.errors[field_name] = message if isinstance(message, dict) else [message]


def _loaded_items(
    items: Sequence[Any],
) -> tuple[list[EnrollmentResult], list[tuple[EnrollmentResult, dict[str, Any]]]]:
    schema = EnrollmentItemSchema()
    results: list[EnrollmentResult] = []
    loaded: list[tuple[EnrollmentResult, dict[str, Any]]] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        data, errors = load_item(schema, item)
        raw_id = item.get("external_id") if isinstance(item, dict) else None
        result = EnrollmentResult(index, raw_id if isinstance(raw_id, str) else None)
        results.append(result)
        if data is None:
            result.status, result.errors = EnrollmentStatus.ERROR, errors
            continue
        result.external_id = data["external_id"]
        if data["external_id"] in first_index:
            result.fail(
                "external_id",
                f"appears twice in this batch (first at item {first_index[data['external_id']]})",
            )
            continue
        first_index[data["external_id"]] = index
        loaded.append((result, data))
    return results, loaded


def _existing_advisors(session: Session, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(session.scalars(select(Advisor.id).where(Advisor.id.in_(sorted(ids)))))


def _learner_for(
    session: Session,
    result: EnrollmentResult,
    data: dict[str, Any],
    existing: Learner | None,
    now: datetime,
) -> Learner | None:
    details = data.get("learner")
    if details is None:
        if existing is None:
            result.fail(
                "learner",
                f"no learner has the external id '{data['external_id']}'; give 'learner' with "
                "at least a name to create it",
            )
        return existing
    try:
        learner, result.learner_created = apply_details(
            session, data["external_id"], details, existing=existing, now=now
        )
    except NameRequired as exc:
        result.fail("learner", {"name": [str(exc)]})
        return None
    return learner


def enroll_batch(
    session: Session, cohort: Cohort, items: Sequence[Any], *, now: datetime
) -> list[EnrollmentResult]:
    """Enroll ``items`` (raw JSON values) into ``cohort`` and commit; one result per item."""
    results, loaded = _loaded_items(items)
    advisors = _existing_advisors(
        session, {data["advisor_id"] for _, data in loaded if data.get("advisor_id")}
    )
    learners = learners_by_external_id(session, [data["external_id"] for _, data in loaded])
    chosen: list[tuple[EnrollmentResult, Learner, int | None]] = []
    for result, data in loaded:
        advisor_id = data.get("advisor_id")
        if advisor_id is not None and advisor_id not in advisors:
            result.fail("advisor_id", f"no advisor has the id {advisor_id}")
            continue
        learner = _learner_for(session, result, data, learners.get(data["external_id"]), now)
        if learner is not None:
            chosen.append((result, learner, advisor_id))
    session.flush()
    enrolled = dict(
        session.execute(
            select(Enrollment.learner_id, Enrollment.id).where(
                Enrollment.cohort_id == cohort.id,
                Enrollment.learner_id.in_([learner.id for _, learner, _ in chosen]),
            )
        ).all()
    )
    room = None
    if cohort.capacity is not None:
        taken = session.scalar(
            select(func.count(Enrollment.id)).where(Enrollment.cohort_id == cohort.id)
        )
        room = cohort.capacity - int(taken or 0)
    fresh: list[tuple[EnrollmentResult, Learner, int | None]] = []
    for result, learner, advisor_id in chosen:
        if learner.id in enrolled:
            result.status, result.enrollment_id = (
                EnrollmentStatus.ALREADY_ENROLLED,
                enrolled[learner.id],
            )
        elif room is not None and len(fresh) >= room:
            result.fail("external_id", f"cohort {cohort.id} is full (capacity {cohort.capacity})")
        else:
            fresh.append((result, learner, advisor_id))
    entries = [NewEnrollment(learner.id, advisor) for _, learner, advisor in fresh]
    created = enroll_learners(session, cohort, entries, now=now) if entries else []
    by_learner = {enrollment.learner_id: enrollment.id for enrollment in created}
    for result, learner, _ in fresh:
        result.enrollment_id = by_learner.get(learner.id)
    session.commit()
    return results
