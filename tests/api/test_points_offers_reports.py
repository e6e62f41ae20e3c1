"""Leaderboard, coupons, offers, conversions and the funnel through the API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from campaign.models import Cohort, Offer
from campaign.offers.service import open_offers
from tests.api.conftest import Api, event, now


def test_the_leaderboard_ranks_ties_together_and_pages(api: Api) -> None:
    api.enroll("b-1", "b-2", "b-3")
    api.events(
        event("b1", "b-1", "homework_submitted"),
        event("b2", "b-2", "homework_submitted"),
        event("b3", "b-3", "checked_in"),
    )
    board = api.get(f"/api/cohorts/{api.cohort_id}/leaderboard")
    assert board.status_code == 200
    assert [(r["rank"], r["external_id"], r["points"]) for r in board.json] == [
        (1, "b-1", 10),
        (1, "b-2", 10),
        (3, "b-3", 2),
    ]
    page = api.get(f"/api/cohorts/{api.cohort_id}/leaderboard?page=2&page_size=2")
    assert [r["external_id"] for r in page.json] == ["b-3"]
    assert api.get("/api/cohorts/999/leaderboard").status_code == 404


def test_points_buy_a_coupon_once_the_balance_allows(api: Api) -> None:
    body = api.enroll("r-1")
    enrollment_id = body["results"][0]["enrollment_id"]
    path = f"/api/enrollments/{enrollment_id}/redemptions"
    poor = api.post(path, json={"coupon_key": "coupon-10"})
    assert poor.status_code == 409
    assert "more needed" in poor.json["message"]
    api.events(event("r1", "r-1", "homework_submitted"), event("r2", "r-1", "homework_submitted"))
    bought = api.post(path, json={"coupon_key": "coupon-10"})
    assert bought.status_code == 201
    assert bought.json["points"] == 20 and bought.json["code"].startswith("COUPON10-")
    unknown = api.post(path, json={"coupon_key": "coupon-99"})
    assert unknown.status_code == 422
    assert "coupon_key" in unknown.json["errors"]["json"]
    assert api.post("/api/enrollments/999/redemptions", json={"coupon_key": "x"}).status_code == 404


def open_the_offer_window(api: Api) -> None:
    """Move the cohort back so that its offer window (D5 20:00 to D8) is open now."""
    cohort = api.session.get(Cohort, api.cohort_id)
    assert cohort is not None
    cohort.starts_on = (now() - timedelta(days=5)).date()
    api.session.commit()
    open_offers(api.session, cohort, now())
    api.session.commit()


def test_offers_and_conversions_are_listed_with_filters(api: Api) -> None:
    api.enroll("o-1", "o-2")
    api.events(
        event("o-goal", "o-1", "survey_answered", payload={"question": "goal", "answer": "A"})
    )
    open_the_offer_window(api)
    offers = api.get(f"/api/offers?cohort_id={api.cohort_id}")
    assert offers.status_code == 200, offers.json
    assert len(offers.json) == 2
    first = offers.json[0]
    assert first["course_key"] == "office-automation" and first["reason"]
    assert first["status"] == "open"
    one = api.get(f"/api/offers?enrollment_id={first['enrollment_id']}")
    assert [o["id"] for o in one.json] == [first["id"]]
    api.events(event("o-paid", "o-1", "paid", payload={"amount": 1999}))
    conversions = api.get(f"/api/conversions?cohort_id={api.cohort_id}")
    assert [(c["course_key"], c["amount"]) for c in conversions.json] == [
        ("office-automation", 1999.0)
    ]
    assert conversions.json[0]["advisor_id"] == api.advisor_id
    api.session.expire_all()
    offer = api.session.scalars(select(Offer).where(Offer.id == first["id"])).one()
    assert str(offer.status) == "converted"
    assert api.get("/api/offers?cohort=1").status_code == 422
    assert api.get("/api/offers", token=api.key("learners:read")).status_code == 403


def test_the_funnel_reads_stages_and_groups(api: Api) -> None:
    api.enroll("u-1", "u-2")
    api.events(event("u1", "u-1", "joined_group"), event("u2", "u-1", "attended_live"))
    response = api.get(f"/api/reports/funnel?cohort_id={api.cohort_id}")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["by"] == "stage" and body["stages"][0] == "joined"
    row = body["rows"][0]
    assert row["counts"]["enrolled"] == 2 and row["counts"]["joined"] == 1
    assert row["rates"]["joined"] == 0.5
    by_advisor = api.get("/api/reports/funnel?by=advisor").json
    assert by_advisor["rows"][0]["counts"]["enrolled"] == 2
    bad = api.get("/api/reports/funnel?by=colour")
    assert bad.status_code == 422 and "by" in bad.json["errors"]["query"]
    assert api.get("/api/reports/funnel?cohort_id=999").status_code == 404
