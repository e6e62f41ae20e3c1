"""Consent evidence, a learner's export, and deletion through the API."""

from __future__ import annotations

from sqlalchemy import func, select

from campaign.models import AnonymousTally, Learner, LearnerEvent
from tests.api.conftest import Api, event


def test_consent_is_recorded_with_its_evidence_and_acted_on(api: Api) -> None:
    api.learner("c-1")
    response = api.post(
        "/api/learners/c-1/consent",
        json={
            "kind": "marketing",
            "granted": False,
            "text_shown": "不再接收课程推荐",
            "method": "form",
        },
    )
    assert response.status_code == 201
    assert response.json["kind"] == "marketing" and response.json["granted"] is False
    assert response.json["recorded_by"] == "api key integration"
    assert api.get("/api/learners/c-1").json["opted_out_at"] is not None
    api.post(
        "/api/learners/c-1/consent",
        json={"kind": "personalisation", "granted": False, "text_shown": "不要个性化推荐"},
    )
    assert api.get("/api/learners/c-1").json["personalised_offers"] is False
    history = api.get("/api/learners/c-1/consent").json
    assert [(r["kind"], r["method"]) for r in history] == [
        ("marketing", "form"),
        ("personalisation", "api"),
    ]


def test_consent_without_evidence_is_refused_by_field(api: Api) -> None:
    api.learner("c-2")
    response = api.post("/api/learners/c-2/consent", json={"kind": "spam", "granted": "maybe"})
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"kind", "granted", "text_shown"}
    assert (
        api.post(
            "/api/learners/nobody/consent",
            json={"kind": "marketing", "granted": True, "text_shown": "ok"},
        ).status_code
        == 404
    )


def test_export_returns_everything_held_on_the_learner(api: Api) -> None:
    api.enroll("x-1")
    api.post("/api/learners/x-1/tags", json={"name": "goal:excel"})
    api.events(event("x-1-in", "x-1", "checked_in"))
    response = api.get("/api/learners/x-1/export")
    assert response.status_code == 200
    body = response.json
    assert body["learner"]["external_id"] == "x-1"
    assert [tag["name"] for tag in body["tags"]] == ["goal:excel"]
    assert {e["name"] for e in body["events"]} >= {"enrolled", "checked_in"}
    assert len(body["enrollments"]) == 1
    assert api.get("/api/learners/nobody/export").status_code == 404


def test_delete_removes_the_learner_and_keeps_anonymous_counts(api: Api) -> None:
    api.enroll("d-1", "d-2")
    api.events(event("d-1-in", "d-1", "checked_in"))
    token = api.key("privacy:read")
    assert api.delete("/api/learners/d-1", token=token).status_code == 403
    response = api.delete("/api/learners/d-1")
    assert response.status_code == 200, response.json
    assert response.json["deleted"]["learners"] == 1
    assert response.json["tallies_added"] >= 1
    assert api.get("/api/learners/d-1").status_code == 404
    assert api.delete("/api/learners/d-1").status_code == 404
    api.session.expire_all()
    assert api.session.scalar(select(func.count(Learner.id))) == 1
    assert (
        api.session.scalar(
            select(func.count(LearnerEvent.id)).where(LearnerEvent.external_id == "d-1-in")
        )
        == 0
    )
    assert api.session.scalar(select(func.count(AnonymousTally.id)))
