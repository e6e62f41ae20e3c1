"""A batch is decided set-wise: its cost in statements does not grow with its size, the cap
still holds inside a batch, and the dispatcher holds back when a queue is full."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from campaign.clock import FrozenClock
from campaign.journeys.spec import Channel
from campaign.messages.channels.base import OutgoingMessage, SendResult
from campaign.messages.dispatch import claim_due, sweep
from campaign.messages.dispatcher import DispatcherStats, dispatch_pass, enqueuer, full_queues
from campaign.messages.planning import record_event
from campaign.messages.recording import RECORD_EVERY_ROWS
from campaign.messages.runtime import DispatchSettings, Runtime
from campaign.messages.sending import UNSAFE_IN_FLIGHT, send_batch
from campaign.messages.settings import SendSettings
from campaign.models import Advisor, Delivery, DeliveryStatus, Task
from campaign.queues import QueueName, queue
from tests.engine.helpers import Camp, at, make_camp

JOURNEY = """\
journey: engine-camp
title: 批量测试营
timezone: Asia/Shanghai
days: 3
caps: {automated_1v1_per_day: 1}
milestones:
  awards: {at: "D3 20:00", kind: peak}
  graduation: {at: "D3 20:40", kind: end}
steps:
  - key: low
    at: "D1 10:00"
    channel: wecom
    priority: 10
    over_cap: hold
    when: {not: {event: homework_submitted, within: today}}
    template: "普通 {{ learner.name }} {{ advisor.name }}"
  - key: high
    at: "D1 10:00"
    channel: wecom
    priority: 90
    template: "重要 {{ learner.name }}"
  - key: call
    at: "D1 11:00"
    channel: advisor_task
    template: "给 {{ learner.name }} 打电话"
"""


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    return make_camp(session, JOURNEY, tmp_path)


@contextmanager
def counting_statements(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = session.get_bind()

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def claim_and_send(camp: Camp, session: Session, now_clock: str) -> list[dict[str, int]]:
    now = at(1, now_clock)
    batches = claim_due(session, now=now, limit=10_000, lease=timedelta(seconds=30), job_size=500)
    session.commit()
    return [
        send_batch(
            session,
            list(batch.ids),
            batch.token,
            clock=FrozenClock(now),
            adapters=camp.adapters,
            settings=camp.settings,
        ).outcomes
        for batch in batches
    ]


def test_the_statements_of_a_batch_do_not_grow_with_its_size(camp: Camp, session: Session) -> None:
    counts = {}
    for size in (10, 200):
        learners = camp.many_learners(size, prefix=f"s{size}-")
        camp.enroll(*learners, now=at(-1, "10:00"))
        with counting_statements(session) as statements:
            [outcomes] = claim_and_send(camp, session, "10:00")
        counts[size] = len(statements)
        # the cap is one a day: the high-priority step goes out, the other waits for tomorrow
        assert outcomes == {"sent": size, "deferred": size}
        camp.run_until(at(2, "23:00"), start=at(1, "10:01"), step=timedelta(hours=6))
    # Outcomes are written every RECORD_EVERY_ROWS sends: one statement more per group.
    assert counts[200] - counts[10] <= 200 // RECORD_EVERY_ROWS, counts
    assert counts[200] < 30, counts[200]


def test_the_cap_holds_inside_one_batch_by_priority(camp: Camp, session: Session) -> None:
    camp.enroll(camp.learner("ann"), camp.learner("bob"), now=at(-1, "10:00"))
    assert claim_and_send(camp, session, "10:00") == [{"sent": 2, "deferred": 2}]
    rows = [d for d in camp.deliveries() if d.step_key in ("high", "low")]
    assert {(d.step_key, str(d.status)) for d in rows} == {("high", "sent"), ("low", "pending")}
    assert {d.reason for d in rows if d.step_key == "low"} == {"waiting: daily cap reached"}
    assert len(camp.sent_lines()) == 2


def test_advisor_tasks_are_created_with_their_rows_in_bulk(camp: Camp, session: Session) -> None:
    advisor = Advisor(name="王老师")
    session.add(advisor)
    learners = camp.many_learners(30)
    camp.enroll(*learners, now=at(-1, "10:00"), advisor=advisor)
    claim_and_send(camp, session, "10:00")
    assert claim_and_send(camp, session, "11:00") == [{"sent": 30}]
    tasks = session.query(Task).all()
    assert len(tasks) == 30
    assert {t.script for t in tasks} == {f"给 learner{i} 打电话" for i in range(30)}
    calls = camp.deliveries("call")
    assert all(d.status == DeliveryStatus.SENT for d in calls)
    assert {t.delivery_id for t in tasks} == {d.id for d in calls}


def test_a_channel_that_cannot_resend_goes_in_small_chunks(camp: Camp, session: Session) -> None:
    inner = camp.adapters[Channel.WECOM]
    watcher = Session(bind=session.get_bind())
    in_flight: list[int] = []

    class NotIdempotent:
        """WeCom-like: a send cut off mid-way may not be sent again."""

        idempotent = False

        def send(self, message: OutgoingMessage) -> SendResult:
            # While a row is being sent, how many rows of the batch are "sending"?
            in_flight.append(
                int(
                    watcher.scalar(
                        select(func.count(Delivery.id)).where(
                            Delivery.status == DeliveryStatus.SENDING
                        )
                    )
                    or 0
                )
            )
            watcher.rollback()
            return inner.send(message)

    camp.adapters[Channel.WECOM] = NotIdempotent()  # type: ignore[assignment]
    camp.enroll(*camp.many_learners(25), now=at(-1, "10:00"))
    claim_and_send(camp, session, "10:00")
    watcher.close()
    assert len(in_flight) == 25  # one send each (the cap defers the other row)
    assert max(in_flight) == UNSAFE_IN_FLIGHT  # a chunk at a time, never the whole batch
    assert len(camp.sent_lines()) == 25


@pytest.fixture
def redis() -> Iterator[Redis]:
    """The local Redis, on a database of its own; the send queues emptied before and after."""
    client = Redis.from_url("redis://127.0.0.1:6379/13")
    for name in QueueName:
        queue(name, client).empty()
    yield client
    for name in QueueName:
        queue(name, client).empty()
    client.close()


def test_the_dispatcher_claims_nothing_for_a_full_queue(
    camp: Camp, session: Session, redis: Redis
) -> None:
    runtime = Runtime(
        sessions=sessionmaker(bind=session.get_bind()),
        clock=FrozenClock(at(1, "10:00")),
        adapters={},
        send=SendSettings(),
        dispatch=DispatchSettings(max_queued_jobs=1, job_size=1),
        config={},
    )
    stats = DispatcherStats()
    enqueue = enqueuer(redis)

    def full() -> set[Channel]:
        return full_queues(redis, 1)

    camp.enroll(*camp.many_learners(3), now=at(-1, "10:00"))
    assert full() == set()
    assert dispatch_pass(runtime, enqueue, stats, full) == 6  # a learner's two rows: one job
    assert full() == {Channel.WECOM}
    camp.enroll(*camp.many_learners(2, prefix="late"), now=at(-1, "10:00"))
    assert dispatch_pass(runtime, enqueue, stats, full) == 0  # held back: the queue is full
    assert stats.held_back == 1
    pending = [d for d in camp.deliveries() if d.due_at <= at(1, "10:00")]
    assert sorted(str(d.status) for d in pending) == ["claimed"] * 6 + ["pending"] * 4
    queue(QueueName.WECOM, redis).empty()  # the workers took the jobs
    assert dispatch_pass(runtime, enqueue, stats, full) == 4


def test_a_send_cut_off_mid_way_goes_out_again_as_it_was(camp: Camp, session: Session) -> None:
    """The sweeper hands back a "sending" row of a channel that de-duplicates; the retry sends
    the stored text under the same key and does not decide again: the first attempt may have
    reached the learner, so a "no" now (the condition turned false) would be a false record."""
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-1, "10:00"))
    [low] = camp.deliveries("low")
    low.status, low.claim_token, low.attempts = DeliveryStatus.SENDING, "dead-worker", 1
    low.text, low.sent_at, low.lease_until = (
        "普通 ann (as first rendered)",
        at(1, "10:00"),
        at(1, "10:01"),
    )
    session.commit()
    record_event(
        session, learner_id=ann.id, name="homework_submitted", occurred_at=at(1, "10:30"),
        now=at(1, "10:30"),
    )  # fmt: skip
    session.commit()
    swept = sweep(session, now=at(1, "10:40"), idempotent={Channel.WECOM})
    session.commit()
    assert swept.retried == 1
    claim_and_send(camp, session, "10:40")
    [low] = camp.deliveries("low")
    assert low.status == DeliveryStatus.SENT and low.attempts == 2
    lines = [line for line in camp.sent_lines() if line.get("step") == "low"]
    assert [line["text"] for line in lines] == ["普通 ann (as first rendered)"]
    assert lines[0]["idempotency_key"] == f"campaign-delivery-{low.id}"


def test_only_a_broken_lock_cycle_is_tried_again() -> None:
    from psycopg import errors
    from sqlalchemy.exc import OperationalError

    from campaign.messages.sending import _may_retry

    assert _may_retry(OperationalError("UPDATE …", {}, errors.DeadlockDetected()))
    assert _may_retry(OperationalError("UPDATE …", {}, errors.SerializationFailure()))
    assert not _may_retry(OperationalError("SELECT …", {}, errors.QueryCanceled()))


CAPACITY = 3


def advisor_with_calls(camp: Camp, session: Session, learners: int) -> tuple[Advisor, list]:
    """An advisor of capacity 3 with ``learners`` call rows claimed at 11:00 in batches of 3."""
    advisor = Advisor(name="王老师", daily_task_capacity=CAPACITY)
    session.add(advisor)
    camp.enroll(*camp.many_learners(learners), now=at(-1, "10:00"), advisor=advisor)
    claim_and_send(camp, session, "10:00")  # the WeCom rows of 10:00 out of the way
    batches = claim_due(
        session, now=at(1, "11:00"), limit=100, lease=timedelta(seconds=30), job_size=CAPACITY
    )
    session.commit()
    return advisor, batches


def calls_by_status(camp: Camp) -> dict[str, int]:
    found: dict[str, int] = {}
    for row in camp.deliveries("call"):
        found[str(row.status)] = found.get(str(row.status), 0) + 1
    return found


def test_an_advisors_capacity_counts_the_tasks_another_worker_is_still_sending(
    camp: Camp, session: Session
) -> None:
    """Another worker decided three tasks and has not written them yet (its rows are
    `sending`): they count against the advisor's capacity."""
    from campaign.messages.recording import BatchResult
    from campaign.messages.sending import _decide_chunk

    _, (first, second) = advisor_with_calls(camp, session, 5)
    clock = FrozenClock(at(1, "11:00"))
    going = _decide_chunk(
        session, list(first.ids), first.token, clock, camp.settings, BatchResult()
    )
    assert len(going) == CAPACITY and session.query(Task).count() == 0
    outcomes = send_batch(
        session, list(second.ids), second.token, clock=clock, adapters=camp.adapters,
        settings=camp.settings,
    ).outcomes  # fmt: skip
    assert "sent" not in outcomes, outcomes
    assert calls_by_status(camp)["sending"] == CAPACITY
    held = [row for row in camp.deliveries("call") if str(row.status) != "sending"]
    assert {row.reason for row in held} == {"advisor's daily capacity reached"}  # the deadline
    assert calls_by_status(camp) == {"sending": CAPACITY, "skipped": 2}


def test_two_workers_deciding_tasks_for_one_advisor_hand_out_no_more_than_the_capacity(
    camp: Camp, session: Session
) -> None:
    """While one worker decides (its transaction open), the other waits for the advisor
    instead of counting from the same baseline."""
    import threading

    from campaign.messages.recording import BatchResult
    from campaign.messages.sending import _decide, begin_write

    _, (first, second) = advisor_with_calls(camp, session, 5)
    clock = FrozenClock(at(1, "11:00"))
    other = Session(bind=session.get_bind())
    begin_write(other)
    going = _decide(other, list(first.ids), first.token, clock.now(), camp.settings, BatchResult())
    assert len(going) == CAPACITY  # decided, not committed: the other worker holds its locks
    results: list[dict[str, int]] = []
    second_worker = threading.Thread(
        target=lambda: results.append(
            send_batch(
                session,
                list(second.ids),
                second.token,
                clock=clock,
                adapters=camp.adapters,
                settings=camp.settings,
            ).outcomes
        )
    )
    second_worker.start()
    second_worker.join(timeout=1.0)
    assert second_worker.is_alive()  # waiting for the advisor, not deciding from a stale count
    other.commit()
    other.close()
    second_worker.join(timeout=30)
    assert not second_worker.is_alive()
    [outcomes] = results
    assert "sent" not in outcomes, outcomes
    assert calls_by_status(camp) == {"sending": CAPACITY, "skipped": 2}
    held = [row for row in camp.deliveries("call") if str(row.status) == "skipped"]
    assert {row.reason for row in held} == {"advisor's daily capacity reached"}
