"""Opening cohorts: the latest version is pinned and stays pinned."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from campaign.cohorts import InvalidCohort, list_cohorts, open_cohort
from campaign.errors import NotFound
from campaign.models import CohortState
from campaign.publishing import publish_journey
from tests.conftest import SAMPLE_JOURNEY

MONDAY = date(2026, 3, 2)


def publish(session: Session, text: str) -> int:
    version, _ = publish_journey(session, text, "journey.yaml")
    session.commit()
    return version.id


def test_open_pins_the_latest_version_with_the_journeys_timezone(session: Session) -> None:
    publish(session, SAMPLE_JOURNEY)
    latest = publish(session, SAMPLE_JOURNEY.replace('"D5 21:00"', '"D5 20:30"'))
    cohort = open_cohort(session, "python-camp", MONDAY)
    session.commit()
    assert cohort.journey_version_id == latest
    assert cohort.version.number == 2
    assert cohort.timezone == "Asia/Shanghai"
    assert cohort.state is CohortState.OPEN
    assert cohort.title == "一杯奶茶钱学会 Python · 7 天体验营 · 2026-03-02"
    assert cohort.capacity is None


def test_a_cohort_keeps_its_version_when_the_journey_is_published_again(
    session: Session,
) -> None:
    first = publish(session, SAMPLE_JOURNEY)
    cohort = open_cohort(session, "python-camp", MONDAY, title="三月一期", capacity=200)
    session.commit()
    second = publish(session, SAMPLE_JOURNEY.replace('"D5 21:00"', '"D5 20:30"'))
    later = open_cohort(session, "python-camp", date(2026, 3, 9))
    session.commit()
    session.expire_all()
    assert cohort.journey_version_id == first
    assert later.journey_version_id == second
    assert [c.title for c in list_cohorts(session, "python-camp")] == [
        "三月一期",
        later.title,
    ]


def test_an_explicit_timezone_is_used(session: Session) -> None:
    publish(session, SAMPLE_JOURNEY)
    cohort = open_cohort(session, "python-camp", MONDAY, timezone="America/Los_Angeles")
    assert cohort.timezone == "America/Los_Angeles"


def test_an_unknown_timezone_is_refused_with_a_suggestion(session: Session) -> None:
    publish(session, SAMPLE_JOURNEY)
    with pytest.raises(InvalidCohort, match="unknown timezone 'Asia/Shangai'; did you mean"):
        open_cohort(session, "python-camp", MONDAY, timezone="Asia/Shangai")


def test_a_capacity_below_one_is_refused(session: Session) -> None:
    publish(session, SAMPLE_JOURNEY)
    with pytest.raises(InvalidCohort, match="capacity 0"):
        open_cohort(session, "python-camp", MONDAY, capacity=0)


def test_opening_a_cohort_of_an_unknown_journey_fails(session: Session) -> None:
    with pytest.raises(NotFound, match="none is published yet"):
        open_cohort(session, "python-camp", MONDAY)
