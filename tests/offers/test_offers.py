"""Offers in the database: stored when the window opens, shown in messages, closed for real,
held by a deposit, discounted by a group-buy with real counters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.commands import main
from campaign.models import Delivery, DeliveryStatus, Offer, OfferStatus, TagSource, Task
from campaign.offers.groupbuy import join_group_buy, list_group_buys
from campaign.offers.listing import list_offers, offer_counts
from campaign.offers.recommend import NON_PERSONALISED_FIRST
from campaign.offers.service import (
    DEPOSIT_HOLD,
    OfferClosed,
    OfferError,
    close_expired_offers,
    open_offers,
    record_deposit,
    sweep_offers,
)
from tests.engine.helpers import Camp, at
from tests.offers.helpers import AFTER_CLOSE, OPEN, advisor, enrollment_of, event, tag

SIGNUP = at(-2, "10:00")


def test_opening_the_window_stores_each_offer_with_its_reason(camp: Camp, session: Session) -> None:
    ann, bob = camp.learner("ann"), camp.learner("bob")
    cai = camp.learner("cai", personalised_offers=False)
    camp.enroll(ann, bob, cai, now=SIGNUP)
    tag(session, ann, "goal:excel-automation", TagSource.SURVEY, SIGNUP)
    tag(session, bob, "goal:data-analysis", TagSource.ADVISOR, SIGNUP)
    tag(session, cai, "goal:data-analysis", TagSource.SURVEY, SIGNUP)
    assert open_offers(session, camp.cohort, at(5, "19:59")) == 0  # not open yet
    assert open_offers(session, camp.cohort, OPEN) == 3
    assert open_offers(session, camp.cohort, OPEN) == 0  # one offer per enrollment
    session.commit()
    offers = {o.learner_id: o for o in list_offers(session, cohort_id=camp.cohort.id)}
    assert (offers[ann.id].course_key, offers[ann.id].reason) == (
        "office-automation",
        "用 Python 自动化处理 Excel",
    )
    assert (offers[bob.id].course_key, offers[bob.id].reason) == (
        "data-analysis",
        "用 Python 做数据分析",
    )
    # PIPL art. 24: cai's survey answer is not used, and the reason says the offer is generic.
    assert offers[cai.id].course_key == "office-automation"
    assert offers[cai.id].reason == NON_PERSONALISED_FIRST
    assert not offers[cai.id].personalised and offers[ann.id].personalised
    first = offers[ann.id]
    assert (first.opens_at, first.closes_at) == (at(5, "20:00"), at(8, "23:59"))
    assert (first.price, first.course_price, first.status) == (1999, 1999, "open")
    assert first.as_dict()["closes_at"] == at(8, "23:59").isoformat()


def test_no_offer_outside_the_window_or_for_those_who_left(camp: Camp, session: Session) -> None:
    ann, bob = camp.learner("ann"), camp.learner("bob")
    camp.enroll(ann, bob, now=SIGNUP)
    event(session, bob, "paid", at(3, "10:00"))  # bought before the offer opened
    assert open_offers(session, camp.cohort, AFTER_CLOSE) == 0
    assert open_offers(session, camp.cohort, OPEN) == 1
    assert [o.learner_id for o in list_offers(session)] == [ann.id]


def test_messages_show_the_stored_offer(camp: Camp, session: Session) -> None:
    teacher = advisor(session)
    ann = camp.learner("ann")
    camp.enroll(ann, now=SIGNUP, advisor=teacher)
    tag(session, ann, "goal:excel-automation", TagSource.SURVEY, SIGNUP)
    session.commit()
    # No sweep ran: the send itself stores the offer (lazily) and renders it.
    camp.tick(at(5, "21:00"))
    [offer] = list_offers(session)
    assert offer.course_key == "office-automation"
    # A later tag does not change what was offered: messages keep showing the stored offer.
    tag(session, ann, "goal:data-analysis", TagSource.ADVISOR, at(6, "09:00"))
    session.commit()
    camp.tick(at(8, "12:00"))
    [task] = session.scalars(select(Task).where(Task.step_key == "recommend")).all()
    delivery = session.get(Delivery, task.delivery_id)
    assert delivery is not None
    assert "「Python 自动化办公」¥1999,到 12月14日 23:59" in task.script
    if delivery.variant == "warm":
        assert task.script.startswith("你说想做 用 Python 自动化处理 Excel")
    [last_call] = [line for line in camp.sent_lines() if line["step"] == "last-call"]
    assert last_call["text"] == "「Python 自动化办公」今晚 23:59 截止,¥1999"


def test_non_personalised_offers_show_the_course_not_a_profile(
    camp: Camp, session: Session
) -> None:
    cai = camp.learner("cai", personalised_offers=False)
    camp.enroll(cai, now=SIGNUP)
    camp.tick(at(5, "21:00"))
    [task] = session.scalars(select(Task).where(Task.step_key == "recommend")).all()
    assert "非个性化" not in task.script  # the stored reason is for staff and exports
    assert "「Python 自动化办公」" in task.script


def test_the_offer_closes_for_real_and_the_price_reverts(camp: Camp, session: Session) -> None:
    people = camp.many_learners(3)
    camp.enroll(*people, now=SIGNUP)
    for learner in people:
        event(session, learner, "group_buy_joined", OPEN)
    assert {o.price for o in list_offers(session)} == {1699}  # formed: 300 off
    assert close_expired_offers(session, at(8, "23:58")) == 0
    assert close_expired_offers(session, AFTER_CLOSE) == 3
    session.commit()
    assert {(o.status, o.price) for o in list_offers(session)} == {("closed", 1999)}
    assert close_expired_offers(session, AFTER_CLOSE) == 0
    # After the deadline no step sells it: the due selling sends are skipped, not sent late.
    camp.tick(AFTER_CLOSE)
    selling = [d for d in camp.deliveries() if d.step_key in ("recommend", "last-call")]
    assert {(d.status, d.reason) for d in selling} == {(DeliveryStatus.SKIPPED, "offer closed")}
    # A payment or deposit after the deadline is stored but reopens nothing.
    event(session, people[0], "deposit_paid", AFTER_CLOSE)
    assert {o.deposit_paid_at for o in list_offers(session)} == {None}


def test_a_deposit_holds_the_offer_past_the_deadline(camp: Camp, session: Session) -> None:
    ann, bob = camp.learner("ann"), camp.learner("bob")
    camp.enroll(ann, bob, now=SIGNUP)
    open_offers(session, camp.cohort, OPEN)
    event(session, ann, "deposit_paid", at(6, "10:00"))
    assert offer_counts(session, cohort_id=camp.cohort.id) == {
        "open": 2,
        "converted": 0,
        "closed": 0,
        "deposits": 1,
        "in_group_buys": 0,
    }
    assert close_expired_offers(session, AFTER_CLOSE) == 1  # bob's
    offers = {o.learner_id: o for o in list_offers(session)}
    assert offers[ann.id].status == "open" and offers[ann.id].deposit_paid_at == at(6, "10:00")
    held_until = at(8, "23:59") + DEPOSIT_HOLD
    assert close_expired_offers(session, held_until) == 0
    assert close_expired_offers(session, held_until + timedelta(minutes=1)) == 1
    session.commit()
    assert offer_counts(session)["closed"] == 2


def test_a_deposit_is_taken_only_inside_the_window(camp: Camp, session: Session) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=SIGNUP)
    enrollment = enrollment_of(session, ann)
    with pytest.raises(OfferClosed):
        record_deposit(session, enrollment, at=at(4, "10:00"), now=at(4, "10:00"))
    offer = record_deposit(session, enrollment, at=OPEN, now=OPEN)
    again = record_deposit(session, enrollment, at=at(6, "09:00"), now=at(6, "09:00"))
    assert offer.id == again.id and again.deposit_paid_at == OPEN  # the first one counts


def test_group_buy_counters_are_real(camp: Camp, session: Session) -> None:
    people = camp.many_learners(5)
    camp.enroll(*people, now=SIGNUP)
    statuses = []
    for learner in people[:2]:
        event(session, learner, "group_buy_joined", OPEN)
        [group] = list_group_buys(session, cohort_id=camp.cohort.id)
        statuses.append((group.members, group.seats_left, group.formed))
    assert statuses == [(1, 2, False), (2, 1, False)]
    assert {o.price for o in list_offers(session) if o.group_buy_id} == {1999}  # not formed yet
    event(session, people[2], "group_buy_joined", at(6, "10:00"))
    [group] = list_group_buys(session)
    assert (group.members, group.seats_left, group.formed_at) == (3, 0, at(6, "10:00"))
    members = [o for o in list_offers(session) if o.group_buy_id == group.id]
    assert [(o.price, o.group_buy_members, o.group_buy_size) for o in members] == [(1699, 3, 3)] * 3
    # The fourth learner starts a new group; joining twice keeps one seat.
    event(session, people[3], "group_buy_joined", at(6, "11:00"))
    event(session, people[3], "group_buy_joined", at(6, "11:05"))
    counters = [(g.members, g.size, g.formed) for g in list_group_buys(session)]
    assert counters == [(3, 3, True), (1, 3, False)]
    # A full group cannot be joined by its link.
    fifth = enrollment_of(session, people[4])
    with pytest.raises(OfferError, match="already full"):
        join_group_buy(session, fifth, at=OPEN, now=OPEN, group_buy_id=group.id)
    assert offer_counts(session)["in_group_buys"] == 4


def test_joining_a_group_buy_for_another_course_switches_the_offer(
    camp: Camp, session: Session
) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=SIGNUP)
    tag(session, ann, "goal:excel-automation", TagSource.SURVEY, SIGNUP)
    event(session, ann, "group_buy_joined", OPEN, course="web-scraping")
    [offer] = list_offers(session)
    assert (offer.course_key, offer.reason, offer.price) == (
        "web-scraping",
        "Python 爬虫实战",
        2299,
    )
    [group] = list_group_buys(session)
    assert group.course_key == "web-scraping"
    bob = camp.learner("bob")
    camp.enroll(bob, now=SIGNUP)
    with pytest.raises(OfferError, match="not in this journey"):
        join_group_buy(
            session, enrollment_of(session, bob), at=OPEN, now=OPEN, course_key="no-such-course"
        )


def test_sweep_and_the_offers_report(camp: Camp, runner: FlaskCliRunner) -> None:
    people = camp.many_learners(2)
    camp.enroll(*people, now=SIGNUP)
    assert sweep_offers(camp.session, OPEN) == (2, 0)
    camp.session.commit()
    assert sweep_offers(camp.session, AFTER_CLOSE) == (0, 2)
    camp.session.commit()
    result = runner.invoke(main, ["report", "offers", "--cohort", str(camp.cohort.id)])
    assert result.exit_code == 0, result.output
    assert "open 0, converted 0, closed 2, deposits 0, in_group_buys 0" in result.output
    assert "office-automation" in result.output
    as_json = runner.invoke(main, ["report", "offers", "--format", "json"])
    assert as_json.exit_code == 0
    assert '"status": "closed"' in as_json.output
    assert session_offers(camp.session) == [OfferStatus.CLOSED, OfferStatus.CLOSED]


def session_offers(session: Session) -> list[OfferStatus]:
    session.expire_all()
    return list(session.scalars(select(Offer.status).order_by(Offer.id)))
