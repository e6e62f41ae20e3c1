"""Events in batches: accepted, duplicate or error by field; idempotent; partial success."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import campaign.events
from campaign.errors import CampaignError
from campaign.models import Enrollment, LearnerEvent, Tag
from tests.api.conftest import Api, event, iso, now


@pytest.fixture
def learners(api: Api) -> Iterator[Api]:
    api.enroll("ev-1", "ev-2")
    yield api


def stored(api: Api) -> list[str]:
    api.session.expire_all()
    return list(
        api.session.scalars(
            select(LearnerEvent.external_id)
            .where(LearnerEvent.external_id.is_not(None))
            .order_by(LearnerEvent.id)
        )
    )


def test_a_batch_is_taken_in_and_its_effects_applied(learners: Api) -> None:
    body = learners.events(
        event("a", "ev-1", "checked_in"),
        event("b", "ev-1", "survey_answered", payload={"question": "goal", "answer": "A"}),
        event("c", "ev-2", "contest_scored", payload={"rank": 1}),
        event("d", "ev-2", "quiz_passed", payload={"score": 9.5, "anything": ["kept"]}),
    )
    assert (body["accepted"], body["duplicate"], body["error"]) == (4, 0, 0)
    assert [r["status"] for r in body["results"]] == ["accepted"] * 4
    assert stored(learners) == ["a", "b", "c", "d"]
    tags = learners.session.scalars(select(Tag.name)).all()
    assert tags == ["goal:excel-automation"]  # the survey rule
    points = dict(learners.session.execute(select(Enrollment.id, Enrollment.points)).all())
    assert sorted(points.values()) == [2, 50]  # check-in 2; contest winner 50
    custom = learners.session.scalars(
        select(LearnerEvent).where(LearnerEvent.external_id == "d")
    ).one()
    assert custom.payload == {"score": 9.5, "anything": ["kept"]}


def test_posting_the_same_batch_again_changes_nothing(learners: Api) -> None:
    batch = [event("x1", "ev-1", "homework_submitted"), event("x2", "ev-2", "checked_in")]
    learners.events(*batch)
    again = learners.events(*batch)
    assert (again["accepted"], again["duplicate"]) == (0, 2)
    assert [r["event_id"] for r in again["results"]] == ["x1", "x2"]
    assert stored(learners) == ["x1", "x2"]
    points = learners.session.scalars(select(Enrollment.points).order_by(Enrollment.id)).all()
    assert points == [10, 2]  # earned once


def test_the_same_event_twice_in_one_batch_is_a_duplicate(learners: Api) -> None:
    body = learners.events(event("y", "ev-1", "checked_in"), event("y", "ev-1", "checked_in"))
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]


def test_bad_items_fail_alone_with_their_fields(learners: Api) -> None:
    body = learners.events(
        event("good-1", "ev-1", "checked_in"),
        event("who", "nobody", "checked_in"),
        {"event_id": "late", "learner": "ev-1", "type": "checked_in", "occurred_at": "yesterday"},
        {
            "event_id": "naive",
            "learner": "ev-1",
            "type": "paid",
            "occurred_at": "2026-01-01T08:00:00",
        },
        event("future", "ev-1", "checked_in", occurred_at=iso(now() + timedelta(days=1))),
        event("internal", "ev-1", "enrolled"),
        event("name", "ev-1", "Checked In"),
        event("survey", "ev-1", "survey_answered", payload={"question": "goal"}),
        event("amount", "ev-1", "paid", payload={"amount": -1, "cohort_id": 10**20}),
        event("extra", "ev-1", "checked_in", source="crm"),
        event("nan", "ev-1", "quiz_passed", payload={"score": float("inf")}),
        [],
        event("good-2", "ev-2", "attended_live"),
    )
    results = body["results"]
    assert [r["status"] for r in results] == ["accepted"] + ["error"] * 11 + ["accepted"]
    errors = [r["errors"] for r in results]
    assert "no learner has the external id 'nobody'" in errors[1]["learner"][0]
    assert "occurred_at" in errors[2]
    assert "occurred_at" in errors[3]
    assert "in the future" in errors[4]["occurred_at"][0]
    assert "recorded by Campaign itself" in errors[5]["type"][0]
    assert "type" in errors[6]
    assert errors[7] == {"payload": {"answer": ["is required for a survey_answered event"]}}
    assert set(errors[8]["payload"]) == {"amount", "cohort_id"}
    assert errors[9] == {"source": ["Unknown field."]}
    assert "payload" in errors[10]
    assert errors[11] == {"_schema": ["must be a JSON object"]}
    assert stored(learners) == ["good-1", "good-2"]


def test_a_refusal_by_a_service_costs_only_its_own_item(
    learners: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse_vip(session: Session, event: LearnerEvent, now: datetime) -> None:
        if (event.payload or {}).get("vip"):
            raise CampaignError("VIP events are handled elsewhere")

    monkeypatch.setattr(campaign.events, "EFFECTS", (*campaign.events.EFFECTS, refuse_vip))
    body = learners.events(
        event("r1", "ev-1", "checked_in"),
        event("r2", "ev-1", "checked_in", payload={"vip": True}),
        event("r3", "ev-2", "checked_in"),
    )
    assert [r["status"] for r in body["results"]] == ["accepted", "error", "accepted"]
    assert body["results"][1]["errors"] == {"_schema": ["VIP events are handled elsewhere"]}
    assert stored(learners) == ["r1", "r3"]
    points = learners.session.scalars(select(Enrollment.points).order_by(Enrollment.id)).all()
    assert points == [2, 2]  # r1's points were not lost with the rolled-back first attempt


def test_a_batch_holds_at_most_1000_events(learners: Api) -> None:
    items = [event(f"m{n}", "ev-1", "checked_in") for n in range(1001)]
    response = learners.post("/api/events", json={"events": items})
    assert response.status_code == 422
    assert "events" in response.json["errors"]["json"]
    assert (
        learners.session.scalar(
            select(func.count(LearnerEvent.id)).where(LearnerEvent.external_id.is_not(None))
        )
        == 0
    )


def test_a_full_batch_of_1000_is_taken_in(learners: Api) -> None:
    items = [event(f"k{n}", f"ev-{n % 2 + 1}", "checked_in") for n in range(1000)]
    body = learners.events(*items)
    assert body["accepted"] == 1000
    assert len(stored(learners)) == 1000


def test_events_need_the_events_scope(learners: Api) -> None:
    token = learners.key("learners:write")
    response = learners.post(
        "/api/events", token=token, json={"events": [event("s", "ev-1", "checked_in")]}
    )
    assert response.status_code == 403
