"""A cohort runs through real dispatcher and worker processes on a warped clock.

One ``campaign dispatcher`` and two ``campaign worker`` processes share a private Redis and the
test's database (SQLite, then PostgreSQL), and a clock that runs a camp hour in one real
second (``CAMPAIGN_CLOCK_SPEED`` / ``CAMPAIGN_CLOCK_ANCHOR``). Every message goes to a local
webhook receiver that records each request, so the test sees what a school's app would see:
when each message arrived (mapped back to camp time), and whether any arrived twice.

The journey, on the Shanghai calendar, for learners in Shanghai and in Tokyo (UTC+9):

============== ============ ======================================================================
step           due          what it checks
============== ============ ======================================================================
evening-note   D1 18:00     ``tz: learner``: 18:00 where each learner lives (Tokyo an hour earlier)
homework-rem.  D1 18:30     ``when``: not for those who submitted homework today (a class
                            reminder: ``quiet_hours: exempt``)
late-note      D1 21:45     quiet hours (21:30-08:00, the recipient's): 08:00 next local morning
night-remind.  D1 22:00     ``expires_after: 2h`` cannot be met (quiet until 08:00): expired
offer          D2 12:00     selling, priority 90: cancelled at once for those who paid on D1
tip            D2 12:00     priority 40: over the daily cap of 2 (late-note + offer), skipped,
                            except for those who paid (their offer was cancelled)
============== ============ ======================================================================
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.clock import WarpedClock
from campaign.cohorts import open_cohort
from campaign.messages.planning import record_event
from campaign.models import Delivery, DeliveryStatus, Enrollment, Learner
from campaign.publishing import publish_journey
from tests.e2e.camp import add_learners, enroll_all
from tests.e2e.conftest import (
    Engine,
    Proc,
    RedisServer,
    WebhookSink,
    all_rows,
    not_terminal,
    real_to_virtual,
    registered_workers,
    wait_for,
)

JOURNEY = """\
journey: e2e-camp
title: 端到端测试营
timezone: Asia/Shanghai
days: 3
quiet_hours: {start: "21:30", end: "08:00"}
caps: {automated_1v1_per_day: 2}
milestones:
  awards: {at: "D3 20:00", kind: peak}
  graduation: {at: "D3 20:40", kind: end}
courses:
  office-automation: {title: "Python 自动化办公", price: 1999, for_tags: ["goal:excel-automation"]}
offer: {opens: "D1 20:00", closes: "D3 12:00"}
steps:
  - key: evening-note
    at: "D1 18:00"
    tz: learner
    channel: webhook
    template: "{{ learner.name }},今晚的直播回放已上传"
  - key: homework-reminder
    at: "D1 18:30"
    channel: webhook
    when: {not: {event: homework_submitted, within: today}}
    quiet_hours: exempt
    expires_after: 3h
    template: "{{ learner.name }},今天的作业还差一点点"
  - key: late-note
    at: "D1 21:45"
    channel: webhook
    template: "{{ learner.name }},明天见"
  - key: night-reminder
    at: "D1 22:00"
    channel: webhook
    expires_after: 2h
    template: "{{ learner.name }},睡前再看一眼作业"
  - key: offer
    at: "D2 12:00"
    channel: webhook
    selling: true
    priority: 90
    template: "{{ offer.course.title }} 优惠到 {{ offer.closes }};回复“全部课程”可看完整课程表"
  - key: tip
    at: "D2 12:00"
    channel: webhook
    priority: 40
    template: "{{ learner.name }},小技巧:多用 f-string"
"""

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOKYO = ZoneInfo("Asia/Tokyo")

SPEED = 3600.0  # a camp hour in a real second
CLOCK_START = datetime(2026, 12, 7, 9, 30, tzinfo=SHANGHAI)  # camp time as the processes start
FIRST_SEND = (17, 0)  # Tokyo's evening-note, Shanghai time: the processes must be up by then
# When messages may arrive, in camp time (an hour is a real second):
# - never before they are due (beyond clock rounding);
# - the first of each moment (a step due for a group of learners at one instant) within
#   FIRST_WITHIN: the dispatcher's tick, the queue and the start of a job;
# - the last within LATEST: the workers then send the moment's batches one row after another,
#   which takes well under a real second on an idle 2-core machine but was seen to take over
#   three when other work loaded it twelve-fold. No outcome hinges on a gap shorter than
#   LATEST: the offer is due 4 h after the late-note it is capped against.
EARLY = timedelta(minutes=1)
FIRST_WITHIN = timedelta(minutes=90)
LATEST = timedelta(hours=4)


def local(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)


def expected_arrival(step: str, tz: ZoneInfo, d1: date) -> datetime:
    """When a learner living in ``tz`` should get ``step`` of a cohort whose D1 is ``d1``."""
    d2 = d1 + timedelta(days=1)
    return {
        "evening-note": local(d1, 18, 0, tz),  # their own 18:00
        "homework-reminder": local(d1, 18, 30, SHANGHAI),
        "late-note": local(d2, 8, 0, tz),  # the end of their own quiet hours
        "offer": local(d2, 12, 0, SHANGHAI),
        "tip": local(d2, 12, 0, SHANGHAI),
    }[step]


@dataclass
class Running:
    clock: WarpedClock
    workers: list[Proc]


@pytest.fixture
def running(engine: Engine, webhook_sink: WebhookSink) -> Running:
    """Start the dispatcher and two workers on the camp clock.

    They start before the database is migrated (the dispatcher retries until the tables are
    there): starting takes a few seconds, and the camp clock runs meanwhile.
    """
    clock = WarpedClock(SPEED, CLOCK_START, datetime.now(UTC))
    engine.channels = {"webhook": webhook_sink.settings}
    engine.settings = {
        "CLOCK_SPEED": SPEED,
        "CLOCK_ANCHOR": clock.anchor(),
        "DISPATCH_TICK_SECONDS": 0.2,
        "DISPATCH_JOB_SIZE": 8,  # several jobs per moment, so both workers send
        "CLAIM_LEASE_SECONDS": 10,  # real seconds, whatever the clock's speed
        "SEND_LEASE_SECONDS": 10,
    }
    engine.dispatcher()
    return Running(clock, [engine.worker("webhook"), engine.worker("webhook")])


def test_a_cohort_goes_out_at_local_times_through_real_processes(
    running: Running, session: Session, redis_server: RedisServer, webhook_sink: WebhookSink
) -> None:
    clock, workers = running.clock, running.workers
    version, _ = publish_journey(session, JOURNEY, "e2e.yaml")
    shanghai = add_learners(session, 20, "sh")  # no timezone of their own: the cohort's
    tokyo = add_learners(session, 10, "tk", timezone="Asia/Tokyo")
    session.commit()
    learners = shanghai + tokyo
    zones = {learner.external_id: SHANGHAI for learner in shanghai} | {
        learner.external_id: TOKYO for learner in tokyo
    }
    everyone = set(zones)
    submitted = {learner.external_id for learner in shanghai[:6] + tokyo[:3]}
    payers = {learner.external_id for learner in shanghai[4:7] + tokyo[2:4]}
    by_name = {learner.external_id: learner for learner in learners}

    # The camp starts on the first day whose first send the processes are up in time for:
    # today on the camp clock, unless they took so long to start that it is already too late.
    wait_for(lambda: registered_workers(redis_server) == 2, timeout=60, what="two RQ workers")
    d1 = CLOCK_START.date()
    while clock.now() > local(d1, *FIRST_SEND, SHANGHAI) - timedelta(minutes=30):
        d1 += timedelta(days=1)
    d2 = d1 + timedelta(days=1)
    print(f"processes up at {clock.now().astimezone(SHANGHAI):%Y-%m-%d %H:%M} camp time; D1 {d1}")
    cohort = open_cohort(session, version.journey.key, d1, title="E2E camp")
    session.commit()
    enroll_all(session, cohort, learners, now=clock.now())
    assert len(all_rows(session)) == len(learners) * 6
    assert not_terminal(session) == len(learners) * 6  # nothing was due before enrolling

    # D1, before the reminder: some learners hand in their homework (after planning, so only
    # the check at send time can know).
    wait_for(
        lambda: clock.now() >= local(d1, 12, 0, SHANGHAI),
        timeout=until(clock, local(d1, 12, 0, SHANGHAI)) + 5,
        what="D1 12:00",
    )
    handed_in = clock.now()
    for name in sorted(submitted):
        record_event(
            session,
            learner_id=by_name[name].id,
            name="homework_submitted",
            occurred_at=handed_in,
            now=handed_in,
        )
    session.commit()
    assert clock.now() < local(d1, 18, 0, SHANGHAI), "the homework came too late to test"

    # Mid-camp, after D1's messages and before D2's, some learners pay.
    wait_for(
        lambda: clock.now() >= local(d1, 21, 0, SHANGHAI),
        timeout=until(clock, local(d1, 21, 0, SHANGHAI)) + 5,
        what="D1 21:00",
    )
    paid_at = clock.now()
    for name in sorted(payers):
        record_event(
            session, learner_id=by_name[name].id, name="paid", occurred_at=paid_at, now=paid_at
        )
    session.commit()
    assert clock.now() < local(d2, 8, 0, SHANGHAI), "the payments came too late to test"
    offers = rows_of(session, "offer")  # cancelled at once, long before they fall due
    assert {name for name, row in offers.items() if row.status == "cancelled"} == payers
    assert {offers[name].reason for name in payers} == {"goal reached (paid)"}

    # The camp runs on until every row has its outcome (D2 12:00 is the last due time).
    last_due = local(d2, 12, 0, SHANGHAI)
    wait_for(
        lambda: clock.now() >= last_due and not_terminal(session) == 0,
        timeout=until(clock, last_due + LATEST) + 5,
        what="every delivery to reach a terminal state",
        every=0.2,
    )
    assert all(worker.alive() for worker in workers)
    rows = all_rows(session)
    receipts = webhook_sink.snapshot()

    # Exactly the rows marked sent reached the receiver, each once, signed.
    assert webhook_sink.duplicates() == {}
    assert {r.delivery_id for r in receipts} == {row.id for row in rows if row.status == "sent"}
    assert all(r.valid for r in receipts)

    # Every row ended in a terminal state with a reason.
    unexplained = [(r.id, r.step_key, r.status, r.reason) for r in rows if not r.reason]
    assert all(DeliveryStatus(row.status).is_terminal for row in rows)
    assert unexplained == []

    # Each message arrived at its local time: never early, soon after it fell due.
    wrong: list[str] = []
    moments: dict[tuple[str, datetime], list[datetime]] = defaultdict(list)
    for receipt in receipts:
        arrived = real_to_virtual(receipt.at, clock.real_anchor, clock.virtual_anchor, SPEED)
        due = expected_arrival(receipt.step, zones[receipt.learner], d1)
        moments[receipt.step, due].append(arrived)
        if not due - EARLY <= arrived <= due + LATEST:
            wrong.append(f"{receipt.step} to {receipt.learner}: due {due}, arrived {arrived}")
    for (step, due), arrivals in sorted(moments.items()):
        if min(arrivals) > due + FIRST_WITHIN:
            wrong.append(f"{step} due {due}: the first arrived only at {min(arrivals)}")
    assert wrong == []
    print(
        "camp minutes after due, first and last of each moment:",
        {
            f"{step}@{due.astimezone(SHANGHAI):%H:%M}": (
                round((min(arrivals) - due) / timedelta(minutes=1)),
                round((max(arrivals) - due) / timedelta(minutes=1)),
            )
            for (step, due), arrivals in sorted(moments.items())
        },
    )
    by_step = Counter(r.step for r in receipts)
    print("receipts by step:", dict(by_step))

    # evening-note: everyone, planned for 18:00 on their own clock (Tokyo's an hour earlier).
    assert outcome(session, "evening-note") == {name: ("sent", "HTTP 200") for name in everyone}
    for name, row in rows_of(session, "evening-note").items():
        assert row.planned_at == local(d1, 18, 0, zones[name])

    # homework-reminder: held back, with the reason, for those who submitted homework.
    assert outcome(session, "homework-reminder") == {
        name: ("skipped", "condition false") if name in submitted else ("sent", "HTTP 200")
        for name in everyone
    }
    assert by_step["homework-reminder"] == len(everyone) - len(submitted)

    # late-note: due in quiet hours, moved to 08:00 of the learner's next morning.
    for name, row in rows_of(session, "late-note").items():
        assert (row.status, row.reason) == ("sent", "HTTP 200")
        assert row.planned_at == local(d1, 21, 45, SHANGHAI)
        assert row.due_at == local(d2, 8, 0, zones[name])
    assert by_step["late-note"] == len(everyone)

    # night-reminder: could not go out within 2 h of 22:00 (quiet until 08:00): expired.
    assert outcome(session, "night-reminder") == {name: ("expired", "expired") for name in everyone}
    assert by_step["night-reminder"] == 0

    # offer (priority 90) and tip (priority 40), both due D2 12:00 under a cap of 2 a day with
    # late-note already sent that day: the offer wins. The payers' offers were cancelled, so
    # their tip has room.
    assert outcome(session, "offer") == {
        name: ("cancelled", "goal reached (paid)") if name in payers else ("sent", "HTTP 200")
        for name in everyone
    }
    assert outcome(session, "tip") == {
        name: ("sent", "HTTP 200") if name in payers else ("skipped", "daily cap reached")
        for name in everyone
    }

    # Nobody got more than two automated messages on any local day of theirs.
    per_day = Counter(
        (
            r.learner,
            real_to_virtual(r.at, clock.real_anchor, clock.virtual_anchor, SPEED)
            .astimezone(zones[r.learner])
            .date(),
        )
        for r in receipts
    )
    assert max(per_day.values()) == 2
    assert len(receipts) == 4 * len(everyone) - len(submitted)


def until(clock: WarpedClock, moment: datetime) -> float:
    """Return the real seconds until ``clock`` reaches ``moment`` (0 if it has)."""
    return max(0.0, (moment - clock.now()) / timedelta(seconds=1) / SPEED)


def rows_of(session: Session, step: str) -> dict[str, Delivery]:
    """Return the rows of ``step`` by learner name (a fresh read)."""
    session.expire_all()
    rows = session.execute(
        select(Learner.external_id, Delivery)
        .join(Enrollment, Enrollment.id == Delivery.enrollment_id)
        .join(Learner, Learner.id == Enrollment.learner_id)
        .where(Delivery.step_key == step)
    ).all()
    session.commit()
    return {name: row for name, row in rows}


def outcome(session: Session, step: str) -> dict[str, tuple[str, str | None]]:
    return {name: (str(row.status), row.reason) for name, row in rows_of(session, step).items()}
