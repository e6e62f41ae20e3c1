"""Create or update learners by the school's own id, one or a batch at a time.

The API's PUT and its bulk enrollment share this: a learner is found by ``external_id``;
fields given are set, fields left out keep their value. A new learner needs a name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.errors import CampaignError
from campaign.models import Learner


class NameRequired(CampaignError):
    """A learner that does not exist yet was given without a name."""

    def __init__(self, external_id: str) -> None:
        super().__init__(f"learner '{external_id}' is new: give its name")


def learners_by_external_id(session: Session, external_ids: Iterable[str]) -> dict[str, Learner]:
    """Return the learners among ``external_ids`` that exist, by external id."""
    wanted = sorted(set(external_ids))
    found: dict[str, Learner] = {}
    for start in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
        chunk = wanted[start : start + 500]
        found.update(
            (learner.external_id, learner)
            for learner in session.scalars(select(Learner).where(Learner.external_id.in_(chunk)))
        )
    return found


def apply_details(
    session: Session,
    external_id: str,
    details: Mapping[str, Any],
    *,
    existing: Learner | None,
    now: datetime,
) -> tuple[Learner, bool]:
    """Create the learner or update ``existing``; return it and whether it was created.

    :raises NameRequired: when the learner is new and ``details`` has no name.
    """
    if existing is None:
        if not details.get("name"):
            raise NameRequired(external_id)
        learner = Learner(external_id=external_id, created_at=now, **details)
        session.add(learner)
        return learner, True
    for name, value in details.items():
        setattr(existing, name, value)
    return existing, False


def upsert_learner(
    session: Session, external_id: str, details: Mapping[str, Any], *, now: datetime
) -> tuple[Learner, bool]:
    """Create or update one learner; return it and whether it was created; the caller commits."""
    existing = learners_by_external_id(session, [external_id]).get(external_id)
    learner, created = apply_details(session, external_id, details, existing=existing, now=now)
    session.flush()
    return learner, created
