"""Bulk enrollment: learners created inline, per-item results, deliveries planned via enroll."""

from __future__ import annotations

from sqlalchemy import func, select

from campaign.models import Cohort, CohortState, Delivery, Enrollment
from tests.api.conftest import Api


def enroll(api: Api, *items: object, cohort_id: int | None = None) -> dict:  # type: ignore[type-arg]
    response = api.post(
        f"/api/cohorts/{cohort_id or api.cohort_id}/enrollments", json={"enrollments": list(items)}
    )
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[return-value]


def test_learners_are_created_inline_enrolled_and_their_deliveries_planned(api: Api) -> None:
    api.learner("e-0", "已有")
    body = enroll(
        api,
        {"external_id": "e-0", "advisor_id": api.advisor_id},
        {"external_id": "e-1", "advisor_id": api.advisor_id, "learner": {"name": "韩梅梅"}},
    )
    assert (body["enrolled"], body["already_enrolled"], body["error"]) == (2, 0, 0)
    results = body["results"]
    assert [r["learner_created"] for r in results] == [False, True]
    assert all(r["status"] == "enrolled" and r["enrollment_id"] for r in results)
    enrollment_ids = [r["enrollment_id"] for r in results]
    planned = api.session.scalar(
        select(func.count(Delivery.id)).where(Delivery.enrollment_id.in_(enrollment_ids))
    )
    assert planned and planned >= 2  # at least the welcome and the D5 standing each


def test_enrolling_again_keeps_the_enrollment(api: Api) -> None:
    first = enroll(api, {"external_id": "e-2", "learner": {"name": "A"}})
    again = enroll(api, {"external_id": "e-2"})
    assert again["already_enrolled"] == 1
    assert again["results"][0]["enrollment_id"] == first["results"][0]["enrollment_id"]
    count = api.session.scalar(select(func.count(Enrollment.id)))
    assert count == 1


def test_bad_items_are_reported_by_index_and_field_and_good_ones_enrolled(api: Api) -> None:
    body = enroll(
        api,
        {"external_id": "ok", "learner": {"name": "好"}},
        {"external_id": "missing"},
        {"external_id": "bad-advisor", "advisor_id": 999_999, "learner": {"name": "B"}},
        {"external_id": "ok"},
        {"external_id": "no-name", "learner": {"email": "n@example.com"}},
        "not an object",
        {"external_id": "extra", "learner": {"name": "C"}, "role": "admin"},
        {"external_id": "bad-email", "learner": {"name": "D", "email": "nope"}},
    )
    assert (body["enrolled"], body["error"]) == (1, 7)
    errors = [r["errors"] for r in body["results"]]
    assert errors[0] == {}
    assert "give 'learner'" in errors[1]["learner"][0]
    assert errors[2] == {"advisor_id": ["no advisor has the id 999999"]}
    assert "appears twice" in errors[3]["external_id"][0]
    assert errors[4] == {"learner": {"name": ["learner 'no-name' is new: give its name"]}}
    assert errors[5] == {"_schema": ["must be a JSON object"]}
    assert errors[6] == {"role": ["Unknown field."]}
    assert errors[7] == {"learner": {"email": ["Not a valid email address."]}}
    assert [r["index"] for r in body["results"]] == list(range(8))
    assert api.get("/api/learners/missing").status_code == 404


def test_a_full_cohort_takes_no_more_learners(api: Api) -> None:
    cohort = api.session.get(Cohort, api.cohort_id)
    assert cohort is not None
    cohort.capacity = 2
    api.session.commit()
    body = enroll(api, *({"external_id": f"c-{n}", "learner": {"name": f"c{n}"}} for n in range(3)))
    assert [r["status"] for r in body["results"]] == ["enrolled", "enrolled", "error"]
    assert "is full (capacity 2)" in body["results"][2]["errors"]["external_id"][0]


def test_a_paused_cohort_takes_no_enrollments(api: Api) -> None:
    cohort = api.session.get(Cohort, api.cohort_id)
    assert cohort is not None
    cohort.state = CohortState.PAUSED
    api.session.commit()
    response = api.post(
        f"/api/cohorts/{api.cohort_id}/enrollments",
        json={"enrollments": [{"external_id": "x", "learner": {"name": "x"}}]},
    )
    assert response.status_code == 409
    assert "paused" in response.json["message"]


def test_an_unknown_cohort_is_404_and_the_batch_is_bounded(api: Api) -> None:
    item = {"external_id": "x", "learner": {"name": "x"}}
    assert api.post("/api/cohorts/999/enrollments", json={"enrollments": [item]}).status_code == 404
    huge = api.post("/api/cohorts/99999999999/enrollments", json={"enrollments": [item]})
    assert huge.status_code == 404
    too_many = api.post(
        f"/api/cohorts/{api.cohort_id}/enrollments", json={"enrollments": [item] * 1001}
    )
    assert too_many.status_code == 422
    assert "enrollments" in too_many.json["errors"]["json"]
    empty = api.post(f"/api/cohorts/{api.cohort_id}/enrollments", json={"enrollments": []})
    assert empty.status_code == 422
