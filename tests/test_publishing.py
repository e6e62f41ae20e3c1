"""Publishing journeys as immutable versions; listing and comparing them."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.errors import NotFound
from campaign.journeys.loader import content_hash
from campaign.models import Journey, JourneyVersion
from campaign.publishing import (
    JourneyHasErrors,
    diff_versions,
    list_versions,
    publish_journey,
)
from tests.conftest import SAMPLE_JOURNEY

CHANGED = SAMPLE_JOURNEY.replace('at: "D5 21:00"', 'at: "D5 20:30"') + (
    "  - key: survey-nudge\n"
    '    at: "D2 12:00"\n'
    "    channel: advisor_task\n"
    '    template: "{{ learner.name }},问卷还没填哦。"\n'
)


def publish(session: Session, text: str, filename: str = "journey.yaml") -> JourneyVersion:
    version, _ = publish_journey(session, text, filename)
    session.commit()
    return version


def test_first_publish_creates_the_journey_and_version_1(session: Session) -> None:
    version, created = publish_journey(session, SAMPLE_JOURNEY, "journey.yaml")
    session.commit()
    assert created
    assert version.number == 1
    assert version.journey.key == "python-camp"
    assert version.journey.title == "一杯奶茶钱学会 Python · 7 天体验营"
    assert version.source == SAMPLE_JOURNEY
    assert version.spec_json["steps"][0]["key"] == "welcome"
    assert version.content_hash == content_hash(version.spec_json)
    assert version.published_at.tzinfo is not None


def test_publishing_the_same_content_twice_is_a_no_op(session: Session) -> None:
    first = publish(session, SAMPLE_JOURNEY)
    reformatted = "# a comment does not make a new version\n" + SAMPLE_JOURNEY
    again, created = publish_journey(session, reformatted, "elsewhere.yaml")
    assert not created
    assert again.id == first.id
    assert session.scalars(select(JourneyVersion)).all() == [first]


def test_publishing_changed_content_makes_version_2(session: Session) -> None:
    first = publish(session, SAMPLE_JOURNEY)
    second, created = publish_journey(session, CHANGED, "journey.yaml")
    session.commit()
    assert created
    assert second.number == 2
    assert second.journey_id == first.journey_id
    assert second.content_hash != first.content_hash
    assert session.scalars(select(Journey)).one().key == "python-camp"


def test_a_journey_with_lint_errors_is_refused(session: Session) -> None:
    broken = SAMPLE_JOURNEY.replace('at: "D5 21:00"', 'at: "D5 25:00"')
    with pytest.raises(JourneyHasErrors) as caught:
        publish_journey(session, broken, "broken.yaml")
    assert any(f.line == 27 and f.severity == "error" for f in caught.value.findings)
    assert "broken.yaml has" in str(caught.value)
    assert session.scalars(select(Journey)).all() == []


def test_versions_are_listed_oldest_first(session: Session) -> None:
    publish(session, SAMPLE_JOURNEY)
    publish(session, CHANGED)
    assert [v.number for v in list_versions(session, "python-camp")] == [1, 2]


def test_listing_an_unknown_journey_suggests_the_close_one(session: Session) -> None:
    publish(session, SAMPLE_JOURNEY)
    with pytest.raises(NotFound, match="journey 'python-cmap' is not published; did you mean"):
        list_versions(session, "python-cmap")


def test_diff_shows_the_source_diff_and_a_step_summary(session: Session) -> None:
    first = publish(session, SAMPLE_JOURNEY)
    publish(session, CHANGED)
    result = diff_versions(session, "python-camp", "1", first.content_hash[:8])
    assert result.summary() == "no change"
    result = diff_versions(session, "python-camp", "v1", "2")
    assert result.steps_added == ["survey-nudge"]
    assert result.steps_removed == []
    assert result.steps_changed == ["recommend"]
    assert "steps added: survey-nudge" in result.summary()
    assert "steps changed: recommend" in result.summary()
    assert '-    at: "D5 21:00"' in result.unified
    assert '+    at: "D5 20:30"' in result.unified
    assert result.unified.startswith("--- python-camp v1 (journey.yaml)")


def test_diff_names_what_versions_exist_when_one_is_unknown(session: Session) -> None:
    publish(session, SAMPLE_JOURNEY)
    with pytest.raises(NotFound, match=r"no version '7'; name one by number \(1\)"):
        diff_versions(session, "python-camp", "1", "7")
