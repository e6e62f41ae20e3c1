"""The marketer's cohort pages: open, pause, resume; the calendar of deliveries; funnels."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.cohorts import open_cohort
from campaign.console.marketer_cohorts import classify, cohort_calendar
from campaign.journeys.spec import Channel
from campaign.models import (
    Advisor,
    Cohort,
    CohortState,
    Delivery,
    DeliveryStatus,
    Enrollment,
    Learner,
    LearnerEvent,
    Tag,
    TagSource,
    Task,
    TaskStatus,
)
from tests.console.conftest import People, csrf_token, sign_in
from tests.console.test_marketer import ENGLISH, post, publish, text

STARTS_ON = date(2026, 12, 7)  # D1; Asia/Shanghai is UTC+8


def shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    """Return the UTC instant of ``hour:minute`` on ``day`` in Shanghai."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture
def marketer(client: FlaskClient, people: People) -> FlaskClient:
    sign_in(client, "mia")
    return client


@pytest.fixture
def cohort(session: Session) -> Cohort:
    publish(session)
    opened = open_cohort(session, "python-camp", STARTS_ON, title="十二月营")
    session.commit()
    return opened


def state_of(session: Session, cohort_id: int) -> CohortState:
    session.expire_all()
    found = session.get(Cohort, cohort_id)
    assert found is not None
    return found.state


def test_cohort_pages_need_the_marketer_role(
    client: FlaskClient, people: People, cohort: Cohort
) -> None:
    pages = [
        "/marketer/cohorts",
        f"/marketer/cohorts/{cohort.id}",
        f"/marketer/cohorts/{cohort.id}/funnel",
        f"/marketer/cohorts/{cohort.id}/funnel?by=step",
        "/marketer/funnel?by=advisor",
    ]
    sign_in(client, "wang")
    token = csrf_token(client, "/advisor/tasks")
    for page in pages:
        assert client.get(page).status_code == 403, page
    for action in ("pause", "resume"):
        refused = client.post(f"/marketer/cohorts/{cohort.id}/{action}", data={"csrf_token": token})
        assert refused.status_code == 403
    refused = client.post(
        "/marketer/cohorts",
        data={"csrf_token": token, "journey": "python-camp", "starts_on": "2027-01-04"},
    )
    assert refused.status_code == 403
    for user in ("mia", "admin"):
        client.post("/logout", data={"csrf_token": token})
        sign_in(client, user)
        token = csrf_token(client, "/marketer/cohorts")
        for page in pages:
            assert client.get(page).status_code == 200, (user, page)


def test_open_a_cohort_from_the_page(marketer: FlaskClient, session: Session) -> None:
    publish(session)
    page = text(marketer.get("/marketer/cohorts", headers=ENGLISH))
    assert 'name="journey"' in page and "python-camp" in page
    response = post(
        marketer,
        "/marketer/cohorts",
        {"journey": "python-camp", "starts_on": "2027-01-04", "title": "一月营", "capacity": "80"},
    )
    assert response.status_code == 303
    opened = session.scalars(select(Cohort)).one()
    assert (opened.title, opened.starts_on, opened.capacity) == ("一月营", date(2027, 1, 4), 80)
    assert opened.state is CohortState.OPEN and opened.timezone == "Asia/Shanghai"
    assert response.headers["Location"].endswith(f"/marketer/cohorts/{opened.id}")
    page = text(marketer.get(response.headers["Location"], headers=ENGLISH))
    assert "Opened cohort 一月营." in page
    # The sample journey sends on WeCom, which the test app does not configure: say so.
    assert "These channels are not configured yet: wecom." in page


def test_opening_with_bad_input_says_why(marketer: FlaskClient, session: Session) -> None:
    publish(session)
    for data, reason in (
        ({"journey": "python-camp", "starts_on": "2027-01-04", "timezone": "Asia/Shanghia"},
         "unknown timezone"),
        ({"journey": "python-camp", "starts_on": "next week"}, "must look like"),
        ({"journey": "python-camp", "starts_on": "2027-01-04", "capacity": "lots"},
         "capacity must be a whole number"),
        ({"journey": "nope", "starts_on": "2027-01-04"}, "is not published"),
    ):
        response = post(marketer, "/marketer/cohorts", data)
        assert response.status_code == 303
        page = text(marketer.get(response.headers["Location"], headers=ENGLISH))
        assert "The cohort was not opened" in page and reason in page, reason
    assert session.scalar(select(func.count(Cohort.id))) == 0


def test_pause_and_resume(marketer: FlaskClient, session: Session, cohort: Cohort) -> None:
    listing = text(marketer.get("/marketer/cohorts", headers=ENGLISH))
    assert f'action="/marketer/cohorts/{cohort.id}/pause"' in listing
    response = post(marketer, f"/marketer/cohorts/{cohort.id}/pause", {"back": "cohort"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/marketer/cohorts/{cohort.id}")
    assert state_of(session, cohort.id) is CohortState.PAUSED
    page = text(marketer.get(response.headers["Location"], headers=ENGLISH))
    assert "Paused 十二月营" in page and "This cohort is paused" in page
    assert f'action="/marketer/cohorts/{cohort.id}/resume"' in page
    response = post(marketer, f"/marketer/cohorts/{cohort.id}/resume", {})
    assert response.headers["Location"].endswith("/marketer/cohorts")
    assert state_of(session, cohort.id) is CohortState.OPEN
    assert "Resumed 十二月营." in text(marketer.get("/marketer/cohorts", headers=ENGLISH))


def test_a_closed_cohort_cannot_be_resumed(
    marketer: FlaskClient, session: Session, cohort: Cohort
) -> None:
    found = session.get(Cohort, cohort.id)
    assert found is not None
    found.state = CohortState.CLOSED
    session.commit()
    response = post(marketer, f"/marketer/cohorts/{cohort.id}/resume", {})
    page = text(marketer.get(response.headers["Location"], headers=ENGLISH))
    assert "is closed" in page
    assert state_of(session, cohort.id) is CohortState.CLOSED
    assert post(marketer, "/marketer/cohorts/999999/pause", {}).status_code == 303
    assert marketer.get("/marketer/cohorts/999999").status_code == 404


def add_delivery(
    session: Session,
    cohort: Cohort,
    target: str,
    step: str,
    planned_at: datetime,
    status: DeliveryStatus,
    reason: str | None = None,
    task: TaskStatus | None = None,
    task_reason: str | None = None,
    channel: Channel = Channel.ADVISOR_TASK,
) -> Delivery:
    delivery = Delivery(
        cohort_id=cohort.id,
        target=target,
        step_key=step,
        occurrence=planned_at.isoformat(),
        channel=channel,
        planned_at=planned_at,
        due_at=planned_at,
        status=status,
        reason=reason,
    )
    session.add(delivery)
    session.flush()
    if task is not None:
        session.add(
            Task(
                delivery_id=delivery.id,
                cohort_id=cohort.id,
                step_key=step,
                script="…",
                due_at=planned_at + timedelta(hours=1),
                status=task,
                outcome_reason=task_reason,
            )
        )
    return delivery


@pytest.fixture
def calendar_cohort(session: Session, cohort: Cohort) -> Cohort:
    """A cohort with deliveries on D-1, D1 and D2 in every outcome."""
    eve, d1, d2 = STARTS_ON - timedelta(days=1), STARTS_ON, STARTS_ON + timedelta(days=1)
    sent, skipped, pending = DeliveryStatus.SENT, DeliveryStatus.SKIPPED, DeliveryStatus.PENDING
    wecom, step = Channel.WECOM, "homework-reminder"

    def add(target: str, at: datetime, status: DeliveryStatus, reason: str | None = None,
            task: TaskStatus | None = None, task_reason: str | None = None) -> None:
        add_delivery(session, cohort, target, step, at, status, reason, task, task_reason)

    add_delivery(session, cohort, "e1", "welcome", shanghai(eve, 10), sent, "written to outbox",
                 channel=wecom)
    add_delivery(session, cohort, "e2", "welcome", shanghai(eve, 11), sent, "written to outbox",
                 channel=wecom)
    add("e1", shanghai(d1, 21), sent, task=TaskStatus.SENT)
    add("e2", shanghai(d1, 21), sent, task=TaskStatus.SKIPPED, task_reason="learner on holiday")
    add("e3", shanghai(d1, 21), sent, task=TaskStatus.OPEN)
    add("e4", shanghai(d1, 21), skipped, "condition false")
    add("e5", shanghai(d1, 21), skipped, "condition false")
    add("e1", shanghai(d2, 21), DeliveryStatus.EXPIRED, "expired")
    add("e2", shanghai(d2, 21), pending, "waiting: quiet hours")
    add("e3", shanghai(d2, 21), pending)
    add("e4", shanghai(d2, 21), DeliveryStatus.FAILED, "channel refused")
    add("e5", shanghai(d2, 21), pending, "waiting: cohort paused")
    session.commit()
    return cohort


def test_calendar_counts_by_day_step_outcome_and_reason(
    session: Session, calendar_cohort: Cohort
) -> None:
    calendar = cohort_calendar(session, calendar_cohort)
    assert [(d.label, d.day) for d in calendar.days] == [
        ("D-1", date(2026, 12, 6)),
        ("D1", date(2026, 12, 7)),
        ("D2", date(2026, 12, 8)),
    ]
    eve, first, second = calendar.days
    assert [s.step_key for s in eve.steps] == ["welcome"]
    assert eve.steps[0].counts["sent"] == 2 and eve.steps[0].reasons == {}
    reminder = first.steps[0]
    assert {k: v for k, v in reminder.counts.items() if v} == {
        "sent": 1,
        "with_advisor": 1,
        "held": 3,
    }
    assert reminder.reasons_in_order() == [
        ("held", "skipped: condition false", 2),
        ("held", "advisor skipped: learner on holiday", 1),
    ]
    assert {k: v for k, v in second.counts.items() if v} == {
        "scheduled": 1,
        "waiting": 2,
        "held": 1,
        "failed": 1,
    }
    assert dict(((o, why), n) for o, why, n in second.steps[0].reasons_in_order()) == {
        ("waiting", "quiet hours"): 1,
        ("waiting", "cohort paused"): 1,
        ("held", "expired: expired"): 1,
        ("failed", "failed: channel refused"): 1,
    }
    assert calendar.totals == {
        "sent": 3, "with_advisor": 1, "scheduled": 1, "waiting": 2, "held": 4, "failed": 1,
    }
    assert calendar.reasons[0] == ("held", "skipped: condition false", 2)


def test_calendar_page_shows_what_went_out_and_why_the_rest_did_not(
    marketer: FlaskClient, calendar_cohort: Cohort
) -> None:
    page = text(marketer.get(f"/marketer/cohorts/{calendar_cohort.id}", headers=ENGLISH))
    assert 'aria-label="Deliveries per day"' in page
    assert 'aria-label="Held back or waiting, and why"' in page
    assert "skipped: condition false: 2" in page
    assert "advisor skipped: learner on holiday: 1" in page
    assert "quiet hours: 1" in page and "cohort paused: 1" in page
    assert "failed: channel refused: 1" in page
    day_rows = re.findall(r'<th rowspan="\d+" class="day">(D-?\d+)<br>', page)
    assert day_rows == ["D-1", "D1", "D2"]


def test_calendar_of_an_empty_cohort(marketer: FlaskClient, cohort: Cohort) -> None:
    page = text(marketer.get(f"/marketer/cohorts/{cohort.id}", headers=ENGLISH))
    assert "No deliveries planned yet" in page


def test_classify_covers_every_status() -> None:
    for status in DeliveryStatus:
        outcome, _ = classify(status, None, None, None)
        assert outcome in ("sent", "scheduled", "held", "failed")
    assert classify(DeliveryStatus.CLAIMED, None, None, None) == ("scheduled", None)
    assert classify(DeliveryStatus.SENT, "x", TaskStatus.POSTPONED, None) == ("with_advisor", None)
    assert classify(DeliveryStatus.VERIFY, "worker died", None, None) == (
        "failed",
        "verify: worker died",
    )


@pytest.fixture
def funnel_cohort(session: Session, cohort: Cohort) -> Cohort:
    """Four learners: 3 joined the group, 2 handed in homework, 1 paid after a recommendation."""
    advisor = Advisor(name="王老师")
    session.add(advisor)
    session.flush()
    learners = [Learner(external_id=f"L{i}", name=f"learner {i}") for i in range(4)]
    session.add_all(learners)
    session.flush()
    enrollments = [
        Enrollment(
            cohort_id=cohort.id,
            learner_id=learner.id,
            advisor_id=advisor.id,
            journey_version_id=cohort.journey_version_id,
        )
        for learner in learners
    ]
    session.add_all(enrollments)
    session.flush()
    day = shanghai(STARTS_ON, 12)
    for index, name in ((0, "joined_group"), (1, "joined_group"), (2, "joined_group"),
                        (0, "homework_submitted"), (1, "homework_submitted")):
        session.add(LearnerEvent(learner_id=learners[index].id, name=name, occurred_at=day))
    for index in (0, 1):
        session.add(Tag(learner_id=learners[index].id, name="goal:excel-automation",
                        source=TagSource.SURVEY))
    recommend = shanghai(STARTS_ON + timedelta(days=4), 21)
    for enrollment in enrollments:
        session.add(
            Delivery(
                cohort_id=cohort.id,
                enrollment_id=enrollment.id,
                target=f"e{enrollment.id}",
                step_key="recommend",
                occurrence="1",
                channel=Channel.WECOM,
                planned_at=recommend,
                due_at=recommend,
                status=DeliveryStatus.SENT,
                sent_at=recommend,
                variant="a",
            )
        )
    session.add(
        LearnerEvent(
            learner_id=learners[0].id,
            enrollment_id=enrollments[0].id,
            name="paid",
            occurred_at=recommend + timedelta(hours=2),
        )
    )
    session.commit()
    return cohort


@pytest.mark.parametrize("by", ["stage", "advisor", "tag", "step", "variant"])
def test_funnel_pages_draw_svg_charts(
    marketer: FlaskClient, funnel_cohort: Cohort, by: str
) -> None:
    response = marketer.get(f"/marketer/cohorts/{funnel_cohort.id}/funnel?by={by}",
                            headers=ENGLISH)
    assert response.status_code == 200
    page = text(response)
    assert page.count("<svg") >= 1
    assert re.search(r'<rect x="[\d.]+" y="[\d.]+" width="[1-9][\d.]*"', page), "no bar drawn"
    assert f'class="active">{by.capitalize()}</a>' in page


def test_stage_funnel_counts_and_rates(marketer: FlaskClient, funnel_cohort: Cohort) -> None:
    page = text(marketer.get(f"/marketer/cohorts/{funnel_cohort.id}/funnel", headers=ENGLISH))
    svg = page[page.index("<svg"): page.index("</svg>")]
    assert 'class="chart funnel"' in svg
    # enrolled 4 → joined 3 (75%) → … → paid 1 (25% of the first).
    assert ">75% · ↓75%</text>" in svg
    # A learner reached a stage when they did it or a later one: the payer consulted and paid a
    # deposit on the way, so paid is 100% of the deposit stage.
    assert ">50% · ↓67%</text>" in svg  # attended: 2 of 4, 2 of the 3 who joined
    assert ">25% · ↓100%</text>" in svg
    table = page[page.index('<table class="funnel">'):]
    assert re.search(r"<td>十二月营 \(#\d+\)</td>\s*<td class=\"num\">4</td>", table)


def test_step_funnel_compares_paid_after_a_step(
    marketer: FlaskClient, funnel_cohort: Cohort
) -> None:
    page = text(marketer.get(f"/marketer/cohorts/{funnel_cohort.id}/funnel?by=step",
                             headers=ENGLISH))
    assert "Paid after being reached, by Step" in page
    assert ">25% · 1/4</text>" in page  # of the 4 the recommendation reached, 1 paid after it


def test_funnel_of_all_cohorts_and_unknown_dimensions(
    marketer: FlaskClient, funnel_cohort: Cohort
) -> None:
    assert marketer.get("/marketer/funnel?by=tag").status_code == 200
    assert "goal:excel-automation" in text(marketer.get("/marketer/funnel?by=tag"))
    assert marketer.get("/marketer/funnel?by=weather").status_code == 404
