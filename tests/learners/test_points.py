"""Points: the ledger from events, the running total, the leaderboard and coupons."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.commands import main
from campaign.errors import NotFound
from campaign.journeys.spec import PointsRules
from campaign.learners.points import (
    NotEnoughPoints,
    UnknownCoupon,
    leaderboard,
    ledger,
    points_for,
    points_total,
    redeem,
    redemptions,
)
from campaign.messages.context import rank_in_cohort
from campaign.models import CouponRedemption, Enrollment, Learner
from tests.engine.helpers import Camp, at, make_camp
from tests.learners.helpers import JOURNEY, enrollment_of, post


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    return make_camp(session, JOURNEY, tmp_path)


def learners(camp: Camp, *names: str) -> list[Learner]:
    people = [camp.learner(name) for name in names]
    camp.enroll(*people, now=at(-2, "10:00"))
    return people


def test_points_for_contest_ranks_and_events() -> None:
    rules = PointsRules((("checked_in", 2), ("refunded", -30)), (50, 30, 20), 5)
    assert points_for(rules, "checked_in", {}) == 2
    assert points_for(rules, "refunded", {}) == -30
    assert points_for(rules, "replied", {}) == 0
    assert [points_for(rules, "contest_scored", {"rank": r}) for r in (1, 2, 3, 4)] == [
        50,
        30,
        20,
        5,
    ]
    assert points_for(rules, "contest_scored", {"rank": "2"}) == 30
    assert points_for(rules, "contest_scored", {"rank": True}) == 5
    assert points_for(rules, "contest_scored", {}) == 5
    assert points_for(PointsRules((("contest_scored", 8),)), "contest_scored", {"rank": 1}) == 8


def test_events_write_the_ledger_and_the_running_total(camp: Camp) -> None:
    (ann,) = learners(camp, "ann")
    post(camp, ann, "checked_in", at(1, "8:00"))
    post(camp, ann, "homework_submitted", at(1, "20:00"), external_id="hw-1")
    post(camp, ann, "homework_submitted", at(1, "20:00"), external_id="hw-1")  # replayed
    post(camp, ann, "attended_live", at(1, "19:30"))
    post(camp, ann, "contest_scored", at(6, "18:00"), {"rank": 2})
    post(camp, ann, "replied", at(2, "10:00"), {"text": "好的"})  # no rule: no row
    enrollment = enrollment_of(camp.session, ann)
    rows = ledger(camp.session, enrollment.id)
    assert [(r.reason, r.delta) for r in rows] == [
        ("checked_in", 2),
        ("attended_live", 5),
        ("homework_submitted", 10),
        ("contest_scored", 30),
    ]
    assert all(r.event_id is not None for r in rows)
    assert enrollment.points == 47 == points_total(camp.session, enrollment.id)


def test_refunds_take_no_points_without_a_rule(camp: Camp) -> None:
    (ann,) = learners(camp, "ann")
    post(camp, ann, "homework_submitted", at(1, "20:00"))
    post(camp, ann, "paid", at(5, "21:00"), {"amount": 1999})
    post(camp, ann, "refunded", at(6, "10:00"))
    enrollment = enrollment_of(camp.session, ann)
    assert enrollment.points == 10
    assert [r.reason for r in ledger(camp.session, enrollment.id)] == ["homework_submitted"]


def test_a_payer_still_earns_contest_points(camp: Camp) -> None:
    (ann,) = learners(camp, "ann")
    post(camp, ann, "paid", at(5, "21:00"))
    post(camp, ann, "contest_scored", at(6, "18:00"), {"rank": 1})
    enrollment = enrollment_of(camp.session, ann)
    assert (str(enrollment.state), enrollment.points) == ("converted", 50)


def test_leaderboard_ties_share_a_rank_like_the_template(camp: Camp) -> None:
    ann, bob, cy, _ = learners(camp, "ann", "bob", "cy", "dan")
    for person in (ann, bob):
        post(camp, person, "homework_submitted", at(1, "20:00"))
    post(camp, cy, "checked_in", at(1, "8:00"))
    board = leaderboard(camp.session, camp.cohort.id)
    assert [(s.rank, s.name, s.points) for s in board] == [
        (1, "ann", 10),
        (1, "bob", 10),
        (3, "cy", 2),
        (4, "dan", 0),
    ]
    for standing in board:
        enrollment = camp.session.get(Enrollment, standing.enrollment_id)
        assert enrollment is not None
        assert rank_in_cohort(camp.session, enrollment) == standing.rank
    top = leaderboard(camp.session, camp.cohort.id, limit=1)
    assert [s.name for s in top] == ["ann", "bob"]  # a tie at the cut is kept whole
    with pytest.raises(NotFound):
        leaderboard(camp.session, 999)


def test_templates_show_the_same_points_and_rank(camp: Camp) -> None:
    ann, bob, _ = learners(camp, "ann", "bob", "cy")
    post(camp, ann, "homework_submitted", at(1, "20:00"))
    post(camp, bob, "homework_submitted", at(1, "20:00"))
    camp.tick(at(5, "9:00"))
    texts = sorted(str(line["text"]) for line in camp.sent_lines())
    assert texts == ["ann:10 分,第 1 名", "bob:10 分,第 1 名", "cy:0 分,第 3 名"]


def test_redeem_a_coupon(camp: Camp) -> None:
    (ann,) = learners(camp, "ann")
    for day in (1, 2, 3, 4):
        post(camp, ann, "homework_submitted", at(day, "20:00"))
    post(camp, ann, "checked_in", at(4, "8:00"))
    enrollment = enrollment_of(camp.session, ann)
    first = redeem(camp.session, enrollment.id, "coupon-10", now=at(7, "21:00"))
    second = redeem(camp.session, enrollment.id, "coupon-10", now=at(7, "21:01"))
    camp.session.commit()
    assert first.code != second.code and first.code.startswith("COUPON10-")
    assert (first.points, enrollment.points) == (20, 42 - 40)
    rows = ledger(camp.session, enrollment.id)
    assert [(r.reason, r.delta) for r in rows[-2:]] == [("coupon coupon-10", -20)] * 2
    assert points_total(camp.session, enrollment.id) == enrollment.points == 2
    assert [r.code for r in redemptions(camp.session, enrollment.id)] == [first.code, second.code]


def test_redeem_refuses_what_cannot_be_paid_or_does_not_exist(camp: Camp) -> None:
    (ann,) = learners(camp, "ann")
    post(camp, ann, "homework_submitted", at(1, "20:00"))
    enrollment = enrollment_of(camp.session, ann)
    with pytest.raises(NotEnoughPoints, match=r"has 10 points; coupon 'coupon-50' .* 90 more"):
        redeem(camp.session, enrollment.id, "coupon-50", now=at(7, "21:00"))
    with pytest.raises(UnknownCoupon, match=r"did you mean 'coupon-50'\?.*coupon-10, coupon-50"):
        redeem(camp.session, enrollment.id, "coupon-5O", now=at(7, "21:00"))
    with pytest.raises(NotFound, match="enrollment 999"):
        redeem(camp.session, 999, "coupon-10", now=at(7, "21:00"))
    camp.session.commit()
    assert enrollment_of(camp.session, ann).points == 10
    assert camp.session.scalars(select(CouponRedemption)).all() == []


def test_leaderboard_and_redeem_commands(runner: FlaskCliRunner, camp: Camp) -> None:
    ann, _ = learners(camp, "ann", "bob")
    post(camp, ann, "homework_submitted", at(1, "20:00"))
    post(camp, ann, "homework_submitted", at(2, "20:00"))
    cohort = str(camp.cohort.id)
    board = runner.invoke(main, ["learners", "leaderboard", "--cohort", cohort])
    assert board.exit_code == 0, board.output
    enrollment = enrollment_of(camp.session, ann)
    assert board.output.splitlines()[0].split() == [
        "1",
        "20",
        "ann",
        "(enrollment",
        f"{enrollment.id})",
    ]
    bought = runner.invoke(main, ["learners", "redeem", str(enrollment.id), "coupon-10"])
    assert bought.exit_code == 0, bought.output
    assert re.fullmatch(
        r"coupon coupon-10: code COUPON10-\w{10} \(cost 20 points, 0 left\)\n", bought.output
    )
    broke = runner.invoke(main, ["learners", "redeem", str(enrollment.id), "coupon-10"])
    assert (broke.exit_code, broke.output) == (
        1,
        f"Error: enrollment {enrollment.id} has 0 points; coupon 'coupon-10' (10 元优惠券) "
        "costs 20: 20 more needed\n",
    )
    empty = runner.invoke(main, ["learners", "leaderboard", "--cohort", "999"])
    assert (empty.exit_code, empty.output) == (1, "Error: cohort 999 does not exist\n")
