"""Learners: upsert by external id, read, list with filters and pagination."""

from __future__ import annotations

import json

from tests.api.conftest import Api, event


def test_put_creates_then_updates_a_learner(api: Api) -> None:
    created = api.put(
        "/api/learners/s-001",
        json={"name": "李雷", "phone": "+86 138-0000-0000", "timezone": "Asia/Shanghai"},
    )
    assert created.status_code == 201
    assert created.json["external_id"] == "s-001"
    assert created.json["phone"] == "+8613800000000"
    updated = api.put("/api/learners/s-001", json={"email": "li@example.com"})
    assert updated.status_code == 200
    assert updated.json["name"] == "李雷"  # left out: kept
    assert updated.json["email"] == "li@example.com"
    cleared = api.put("/api/learners/s-001", json={"email": None})
    assert cleared.json["email"] is None
    assert api.get("/api/learners/s-001").json["timezone"] == "Asia/Shanghai"


def test_a_new_learner_needs_a_name(api: Api) -> None:
    response = api.put("/api/learners/s-002", json={"email": "a@example.com"})
    assert response.status_code == 422
    assert response.json["errors"] == {"json": {"name": ["learner 's-002' is new: give its name"]}}


def test_validation_errors_name_each_field(api: Api) -> None:
    response = api.put(
        "/api/learners/s-003",
        json={
            "name": "",
            "email": "not-an-email",
            "timezone": "Asia/Shanghia",
            "phone": "call me",
            "birth_date": "2999-01-01",
            "opted_out_at": "2026-01-01T00:00:00Z",
        },
    )
    assert response.status_code == 422
    errors = response.json["errors"]["json"]
    assert set(errors) == {"name", "email", "timezone", "phone", "birth_date", "opted_out_at"}
    assert "did you mean 'Asia/Shanghai'" in errors["timezone"][0]
    assert errors["opted_out_at"] == ["Unknown field."]
    assert response.json["message"].startswith("the request is not valid: json.")


def test_text_a_database_cannot_store_is_refused(api: Api) -> None:
    response = api.put("/api/learners/s-004", json={"name": "a\u0000b"})
    assert response.status_code == 422
    assert "NUL" in response.json["errors"]["json"]["name"][0]
    too_long = api.put(f"/api/learners/{'x' * 101}", json={"name": "A"})
    assert too_long.status_code == 422
    assert "external_id" in too_long.json["errors"]["path"]


def test_a_body_that_is_not_json_says_so(api: Api) -> None:
    response = api.put("/api/learners/s-005", data="name=A", content_type="text/plain")
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json["message"]
    broken = api.put("/api/learners/s-005", data="{", content_type="application/json")
    assert broken.status_code == 400
    assert broken.json["errors"] == {"json": ["Invalid JSON body."]}


def test_reading_an_unknown_learner_is_404(api: Api) -> None:
    response = api.get("/api/learners/nobody")
    assert response.status_code == 404
    assert "PUT /api/learners/" in response.json["message"]


def test_a_learner_shows_tags_and_enrollments(api: Api) -> None:
    api.enroll("s-006")
    api.post("/api/learners/s-006/tags", json={"name": "goal:excel-automation"})
    body = api.get("/api/learners/s-006").json
    assert [tag["name"] for tag in body["tags"]] == ["goal:excel-automation"]
    assert body["enrollments"][0]["cohort_id"] == api.cohort_id
    assert body["enrollments"][0]["state"] == "active"
    assert body["enrollments"][0]["advisor_id"] == api.advisor_id


def test_the_list_is_paginated_with_an_x_pagination_header(api: Api) -> None:
    for number in range(5):
        api.learner(f"p-{number}")
    first = api.get("/api/learners?page_size=2")
    assert [one["external_id"] for one in first.json] == ["p-0", "p-1"]
    meta = json.loads(first.headers["X-Pagination"])
    assert meta == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 1,
        "next_page": 2,
    }
    last = api.get("/api/learners?page_size=2&page=3")
    assert [one["external_id"] for one in last.json] == ["p-4"]
    assert api.get("/api/learners?page=99999999999999999999").json == []


def test_page_size_has_a_maximum(api: Api) -> None:
    response = api.get("/api/learners?page_size=501")
    assert response.status_code == 422
    assert "page_size" in response.json["errors"]["query"]


def test_the_list_filters_by_cohort_tag_and_opt_out(api: Api) -> None:
    api.enroll("f-1", "f-2")
    api.learner("f-3")
    api.post("/api/learners/f-2/tags", json={"name": "goal:excel-automation"})
    api.events(event("f-3-out", "f-3", "opted_out"))

    def ids(query: str) -> list[str]:
        response = api.get(f"/api/learners?{query}")
        assert response.status_code == 200, response.json
        return [one["external_id"] for one in response.json]

    assert ids(f"cohort_id={api.cohort_id}") == ["f-1", "f-2"]
    assert ids("tag=goal:excel-automation") == ["f-2"]
    assert ids("opted_out=true") == ["f-3"]
    assert ids("opted_out=false") == ["f-1", "f-2"]
    assert ids("external_id=f-3") == ["f-3"]
    assert ids(f"cohort_id={api.cohort_id}&tag=goal:excel-automation") == ["f-2"]


def test_a_misspelt_filter_is_an_error_not_ignored(api: Api) -> None:
    response = api.get("/api/learners?cohort=1")
    assert response.status_code == 422
    assert response.json["errors"] == {"query": {"cohort": ["Unknown field."]}}
    assert api.get("/api/learners?cohort_id=99999999999").status_code == 422
