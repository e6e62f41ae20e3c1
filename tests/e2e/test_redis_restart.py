"""Restart Redis in the middle of a drain: the schedule is in SQL, so nothing is lost or doubled.

A few hundred webhook messages are due at once; one dispatcher and two workers send them. When
a quarter have arrived, the test kills the private ``redis-server`` with SIGKILL, keeps it down
until the dispatcher has taken back the batches that were lost with it (their claims ran out)
and fails to queue them again, then starts an empty server on the same port. The dispatcher
and the workers reconnect by themselves, and every row is sent exactly once.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from campaign.models import DeliveryStatus
from tests.e2e.camp import add_learners, enroll_all, open_camp
from tests.e2e.conftest import (
    Engine,
    Processes,
    RedisServer,
    WebhookSink,
    all_rows,
    not_terminal,
    registered_workers,
    status_counts,
    wait_for,
)

JOURNEY = """\
journey: e2e-redis
title: Redis 重启测试营
timezone: Asia/Shanghai
days: 3
milestones:
  awards: {at: "D3 20:00", kind: peak}
  graduation: {at: "D3 20:40", kind: end}
steps:
  - key: welcome
    on: enrolled
    channel: webhook
    quiet_hours: exempt
    template: "{{ learner.name }} 你好,欢迎加入 {{ cohort.title }}"
"""

LEARNERS = 300
LEASE = 3.0  # the claim lease: how soon the batches lost with Redis come back


def test_a_redis_restart_mid_drain_loses_and_doubles_nothing(
    session: Session, engine: Engine, redis_server: RedisServer, webhook_sink: WebhookSink
) -> None:
    cohort = open_camp(session, JOURNEY, date(2030, 1, 7))
    enroll_all(session, cohort, add_learners(session, LEARNERS, "r"), now=datetime.now(UTC))

    engine.channels = {"webhook": webhook_sink.settings}
    engine.settings = {
        "DISPATCH_TICK_SECONDS": 0.2,
        "DISPATCH_JOB_SIZE": 20,
        "CLAIM_LEASE_SECONDS": LEASE,
        # Webhooks are idempotent: a send outliving its lease is retried with the same key,
        # which the receiver would count twice. No send is cut off here, so give them room.
        "SEND_LEASE_SECONDS": 30,
    }
    dispatcher = engine.dispatcher()
    workers = [engine.worker("webhook"), engine.worker("webhook")]
    wait_for(lambda: webhook_sink.count() >= LEARNERS // 4, timeout=30, what="a quarter sent")

    redis_server.kill()
    received_at_kill = webhook_sink.count()
    assert received_at_kill < LEARNERS, "the drain ended before Redis went down"

    def lost_batches_taken_back() -> bool:
        counts = status_counts(session)
        return counts.get("claimed", 0) == 0 and counts.get("sending", 0) == 0

    # The jobs queued in Redis are gone; their rows come back when the claims run out, and the
    # dispatcher cannot queue them again while Redis is down (it puts them back to pending).
    wait_for(lost_batches_taken_back, timeout=LEASE + 15, what="the lost batches to come back")
    assert status_counts(session).get("pending", 0) > 0
    assert dispatcher.alive()

    redis_server.start()  # empty, on the same port
    wait_for(
        lambda: not_terminal(session) == 0,
        timeout=60,
        what="every delivery to reach a terminal state after the restart",
        every=0.2,
    )
    assert webhook_sink.count() > received_at_kill

    rows = all_rows(session)
    assert {DeliveryStatus(row.status) for row in rows} == {DeliveryStatus.SENT}
    assert webhook_sink.duplicates() == {}
    assert sorted(r.delivery_id for r in webhook_sink.snapshot()) == [row.id for row in rows]
    # The same processes carried on: nobody restarted them.
    assert dispatcher.alive()
    assert all(worker.alive() for worker in workers)


def test_a_worker_started_while_redis_is_away_waits_for_it(
    processes: Processes, engine: Engine, redis_server: RedisServer
) -> None:
    """A supervisor may start a worker during a Redis outage: it waits, then works."""
    redis_server.kill()
    worker = engine.worker("webhook")
    time.sleep(2.0)
    assert worker.alive(), worker.output()
    redis_server.start()
    wait_for(lambda: registered_workers(redis_server) == 1, timeout=30, what="the worker")
    assert worker.alive()


def test_an_idle_worker_keeps_waiting_for_jobs(engine: Engine, redis_server: RedisServer) -> None:
    """Waiting for a job outlasts redis-py's default 5 s read timeout: no quit-and-restart."""
    worker = engine.worker("webhook")
    wait_for(lambda: registered_workers(redis_server) == 1, timeout=30, what="the worker")
    time.sleep(8.0)
    assert worker.alive()
    assert "quitting" not in worker.output() and "working on" not in worker.output()
