"""Set up a camp for the end-to-end tests: publish a journey, open a cohort, enroll learners."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.orm import Session

from campaign.cohorts import open_cohort
from campaign.messages.planning import NewEnrollment, enroll
from campaign.models import Cohort, Learner
from campaign.publishing import publish_journey


def open_camp(session: Session, journey_text: str, starts_on: date) -> Cohort:
    """Publish ``journey_text`` and open a cohort on it whose D1 is ``starts_on``."""
    version, _ = publish_journey(session, journey_text, "e2e.yaml")
    cohort = open_cohort(session, version.journey.key, starts_on, title="E2E camp")
    session.commit()
    return cohort


def add_learners(
    session: Session, count: int, prefix: str, *, timezone: str | None = None, start: int = 0
) -> list[Learner]:
    learners = [
        Learner(
            external_id=f"{prefix}{i:04d}",
            name=f"{prefix}{i:04d}",
            email=f"{prefix}{i:04d}@example.com",
            timezone=timezone,
        )
        for i in range(start, start + count)
    ]
    session.add_all(learners)
    session.flush()
    return learners


def enroll_all(
    session: Session, cohort: Cohort, learners: Sequence[Learner], *, now: datetime
) -> None:
    enroll(session, cohort, [NewEnrollment(learner.id) for learner in learners], now=now)
    session.commit()
