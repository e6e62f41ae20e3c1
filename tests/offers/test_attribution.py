"""A payment is the goal: the offer converts, selling stops at once, the sale is attributed to
the cohort, the advisor, the offer and the last step and variant that reached the learner."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.events import ingest_event
from campaign.models import (
    Conversion,
    Delivery,
    DeliveryStatus,
    EnrollmentState,
    TagSource,
    Task,
)
from campaign.offers.attribution import last_touch
from campaign.offers.listing import list_conversions, list_offers
from campaign.tasks import mark_sent
from tests.engine.helpers import Camp, at
from tests.offers.helpers import advisor, enrollment_of, event, mark_tasks_sent, tag

SIGNUP = at(-2, "10:00")


def delivery(session: Session, enrollment_id: int, step: str) -> Delivery:
    found = session.scalar(
        select(Delivery).where(Delivery.enrollment_id == enrollment_id, Delivery.step_key == step)
    )
    assert found is not None
    return found


def test_payment_converts_stops_selling_and_is_attributed(camp: Camp, session: Session) -> None:
    teacher = advisor(session)
    ann, bob = camp.learner("ann"), camp.learner("bob")
    camp.enroll(ann, bob, now=SIGNUP, advisor=teacher)
    tag(session, ann, "goal:excel-automation", TagSource.SURVEY, SIGNUP)
    session.commit()
    camp.tick(SIGNUP)  # welcome
    camp.tick(at(4, "20:00"))  # showcase
    camp.tick(at(5, "21:00"))  # recommend: a task for each advisor, not yet sent
    ann_enrollment, bob_enrollment = enrollment_of(session, ann), enrollment_of(session, bob)
    # The advisor sends ann's recommend task; bob's stays open.
    for task in session.scalars(select(Task).where(Task.step_key == "recommend")).all():
        if task.enrollment_id == ann_enrollment.id:
            mark_sent(session, task.id, now=at(5, "21:20"))
    session.commit()
    event(session, ann, "paid", at(5, "22:00"))
    event(session, bob, "paid", at(5, "22:30"), amount=1500.0, course="web-scraping")

    conversions = {c.learner_id: c for c in list_conversions(session, cohort_id=camp.cohort.id)}
    recommend = delivery(session, ann_enrollment.id, "recommend")
    [ann_offer] = list_offers(session, enrollment_id=ann_enrollment.id)
    sale = conversions[ann.id]
    assert (sale.cohort_id, sale.advisor_id, sale.offer_id) == (
        camp.cohort.id,
        teacher.id,
        ann_offer.id,
    )
    assert (sale.course_key, sale.amount, sale.paid_at) == (
        "office-automation",
        1999,
        at(5, "22:00"),
    )
    assert (sale.step_key, sale.variant, sale.delivery_id) == (
        "recommend",
        recommend.variant,
        recommend.id,
    )
    assert recommend.variant in ("warm", "direct")
    assert ann_offer.status == "converted"
    # bob's task was never sent by the advisor: the showcase message was the last touch.
    other = conversions[bob.id]
    showcase = delivery(session, bob_enrollment.id, "showcase")
    assert (other.step_key, other.variant, other.delivery_id) == ("showcase", "a", showcase.id)
    assert (other.course_key, other.amount) == ("web-scraping", 1500.0)
    # Selling stops at once: the D8 last call is cancelled with the reason, for both.
    session.expire_all()
    for enrollment in (ann_enrollment, bob_enrollment):
        last_call = delivery(session, enrollment.id, "last-call")
        assert (last_call.status, last_call.reason) == (
            DeliveryStatus.CANCELLED,
            "goal reached (paid)",
        )
        assert enrollment.state is EnrollmentState.CONVERTED
        assert enrollment.goal_reached_at is not None
    camp.tick(at(8, "12:00"))
    assert [line for line in camp.sent_lines() if line["step"] == "last-call"] == []


def test_the_same_payment_twice_records_one_sale(camp: Camp, session: Session) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=SIGNUP)
    for external_id in ("order-1", "order-1", "order-2"):
        ingest_event(
            session,
            learner_id=ann.id,
            name="paid",
            occurred_at=at(6, "10:00"),
            now=at(6, "10:00"),
            external_id=external_id,
        )
        session.commit()
    [sale] = list_conversions(session)  # order-2 re-buys the same course: no new sale
    # No sweep or send made the offer before: the payment makes it, to attribute the sale.
    [offer] = list_offers(session)
    assert (sale.offer_id, offer.status, offer.price) == (offer.id, "converted", 1999)


def test_a_payment_before_the_window_has_no_offer_but_a_course(
    camp: Camp, session: Session
) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=SIGNUP)
    tag(session, ann, "goal:data-analysis", TagSource.SURVEY, SIGNUP)
    session.commit()
    camp.tick(SIGNUP)
    event(session, ann, "paid", at(2, "10:00"))
    [sale] = list_conversions(session)
    assert (sale.offer_id, sale.course_key, sale.amount) == (None, "data-analysis", 2499)
    assert (sale.step_key, sale.variant) == ("welcome", "a")
    assert list_offers(session) == []


def test_a_refund_is_marked_and_frees_a_group_buy_seat(camp: Camp, session: Session) -> None:
    ann, bob = camp.learner("ann"), camp.learner("bob")
    camp.enroll(ann, bob, now=SIGNUP)
    event(session, ann, "group_buy_joined", at(5, "20:30"))
    event(session, bob, "paid", at(6, "10:00"))
    event(session, bob, "refunded", at(7, "10:00"))
    event(session, ann, "refunded", at(7, "11:00"))  # nothing bought: only the seat is freed
    [sale] = list_conversions(session)
    assert sale.refunded_at == at(7, "10:00")
    [ann_offer] = [o for o in list_offers(session) if o.learner_id == ann.id]
    assert ann_offer.group_buy_id is None and ann_offer.status == "open"
    refunded = session.scalar(select(Conversion.refunded_at))
    assert refunded == at(7, "10:00")


def test_last_touch_ignores_sends_after_the_payment(camp: Camp, session: Session) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=SIGNUP)
    camp.tick(SIGNUP)
    camp.tick(at(4, "20:00"))
    enrollment = enrollment_of(session, ann)
    touch = last_touch(session, enrollment.id, at(3, "10:00"))
    assert touch is not None and touch.step_key == "welcome"
    assert last_touch(session, enrollment.id, at(-3, "10:00")) is None
    later = last_touch(session, enrollment.id, at(5, "10:00"))
    assert later is not None and later.step_key == "showcase"
    # An advisor task reaches the learner when the advisor sends it, not when it is created.
    camp.tick(at(5, "21:00"))
    assert last_touch(session, enrollment.id, at(5, "23:00")) == later
    [task] = mark_tasks_sent(session, "recommend", at(5, "23:30"))
    sent = last_touch(session, enrollment.id, at(5, "23:45"))
    assert sent is not None and (sent.step_key, sent.reached_at) == ("recommend", at(5, "23:30"))
    assert task.delivery_id == sent.delivery_id
