"""kill -9 workers in the middle of their batches while a cohort drains: nothing goes out twice.

A few hundred e-mails are due at once; one dispatcher and two workers send them to a local SMTP
server that records every message it accepts. Several times, the test picks a worker that is
half-way through a batch (some of the batch's rows done, some not), kills it with SIGKILL and
starts another, as a supervisor would. The SMTP server holds its "250" for a moment after it has
recorded a message, so some kills land between "the learner has it" and "the row says sent".

E-mail is not idempotent, so the engine must never send a row again once a send may have
started: a row caught in ``sending`` goes to ``verify`` (a human checks) when its lease runs
out, while the rest of the killed batch (still ``claimed``) returns to ``pending`` and is sent
by another worker.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from rq import Worker
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.messages.dispatch import VERIFY_REASON
from campaign.models import Delivery, DeliveryStatus
from tests.e2e.camp import add_learners, enroll_all, open_camp
from tests.e2e.conftest import (
    Engine,
    Proc,
    RedisServer,
    SmtpSink,
    all_rows,
    not_terminal,
    status_counts,
    wait_for,
)

JOURNEY = """\
journey: e2e-drain
title: 排空测试营
timezone: Asia/Shanghai
days: 3
milestones:
  awards: {at: "D3 20:00", kind: peak}
  graduation: {at: "D3 20:40", kind: end}
steps:
  - key: welcome
    on: enrolled
    channel: email
    quiet_hours: exempt
    template: "{{ learner.name }} 你好,欢迎加入 {{ cohort.title }}"
"""

LEARNERS = 240
LEASE = 3.0  # seconds, for claims and sends alike
TICK = 0.2
KILLS = 4  # kills that land in the middle of a batch
SLACK = 3.0  # seconds a loaded machine may add to "lease + one tick"


@dataclass
class Kill:
    at: datetime
    pid: int
    token: str
    left_claimed: set[int] = field(default_factory=set)  # back to pending, sent by another
    left_sending: set[int] = field(default_factory=set)  # may have reached the learner: verify


def test_killing_workers_mid_batch_sends_nothing_twice(
    session: Session, engine: Engine, redis_server: RedisServer, smtp_sink: SmtpSink
) -> None:
    cohort = open_camp(session, JOURNEY, date(2030, 1, 7))
    enroll_all(session, cohort, add_learners(session, LEARNERS, "k"), now=datetime.now(UTC))
    assert status_counts(session) == {"pending": LEARNERS}

    smtp_sink.hold = 0.03
    engine.channels = {"email": smtp_sink.settings}
    engine.settings = {
        "DISPATCH_TICK_SECONDS": TICK,
        "DISPATCH_JOB_SIZE": 15,
        "CLAIM_LEASE_SECONDS": LEASE,
        "SEND_LEASE_SECONDS": LEASE,
    }
    engine.dispatcher()
    workers = [engine.worker("email"), engine.worker("email")]
    chooser = random.Random()
    kills: list[Kill] = []
    deadline = time.monotonic() + 90
    while sum(1 for k in kills if k.left_claimed | k.left_sending) < KILLS:
        assert time.monotonic() < deadline, f"only {len(kills)} kills before the deadline"
        assert not_terminal(session) > 0, f"the drain ended after {len(kills)} kills"
        in_send = len(kills) % 2 == 0  # every other kill aims at a row being sent
        victim, token, ids = wait_for(
            partial(mid_batch, session, redis_server, workers, chooser, in_send=in_send),
            timeout=30,
            what="a worker in the middle of a batch",
            every=0.02,
        )
        victim.kill9()
        kill = Kill(datetime.now(UTC), victim.pid, token)
        for row in rows_with(session, ids, token):
            if row.status == DeliveryStatus.CLAIMED:
                kill.left_claimed.add(row.id)
            elif row.status in (DeliveryStatus.SENDING, DeliveryStatus.VERIFY):
                kill.left_sending.add(row.id)  # (verify: a send slower than its lease)
        kills.append(kill)
        workers[workers.index(victim)] = engine.worker("email")  # the supervisor restarts it
        wait_for(  # let the drain move on before the next kill
            partial(drained_more, session, smtp_sink, smtp_sink.count() + 20),
            timeout=30,
            what="the drain to go on after a kill",
        )

    wait_for(
        lambda: not_terminal(session) == 0,
        timeout=60,
        what="every delivery to reach a terminal state",
        every=0.2,
    )
    rows = all_rows(session)
    receipts = smtp_sink.snapshot()
    by_status: dict[DeliveryStatus, set[int]] = {}
    for row in rows:
        by_status.setdefault(DeliveryStatus(row.status), set()).add(row.id)
    sent = by_status.get(DeliveryStatus.SENT, set())
    verify = by_status.get(DeliveryStatus.VERIFY, set())
    received = {r.delivery_id for r in receipts}
    caught_sending = set().union(*(k.left_sending for k in kills))

    # No learner got a message twice.
    assert smtp_sink.duplicates() == {}
    # Every row ended sent, or in verify: exactly those a kill caught in the middle of a send.
    assert set(by_status) <= {DeliveryStatus.SENT, DeliveryStatus.VERIFY}, status_counts(session)
    assert len(sent) + len(verify) == LEARNERS
    assert verify == caught_sending
    assert caught_sending, "no kill landed in the middle of a send"
    assert all(row.reason for row in rows)
    assert {row.reason for row in rows if row.id in verify} <= {VERIFY_REASON}
    # Each sent row reached the server once; the others it got are rows in verify (killed
    # after the server accepted the message but before the worker recorded "sent").
    assert sent <= received
    assert received - sent <= verify
    assert len(receipts) == len(sent) + len(received & verify)
    # What a kill left behind came back within the lease and a tick: claimed rows went back
    # to pending and were sent by another worker; sending rows went to verify.
    for kill in kills:
        for row in rows:
            if row.id in kill.left_sending:
                recovered = row.updated_at - kill.at
                assert recovered <= timedelta(seconds=LEASE + TICK + SLACK), (row.id, recovered)
            if row.id in kill.left_claimed:  # claimed again, and sent (or caught by a later kill)
                assert row.claim_token != kill.token
                assert row.status == DeliveryStatus.SENT or row.id in caught_sending
    assert all(worker.alive() for worker in workers)
    print(
        f"{len(kills)} kills; {len(sent)} sent, {len(verify)} verify "
        f"({len(received & verify)} of them reached the server)"
    )


def drained_more(session: Session, sink: SmtpSink, received: int) -> bool:
    return sink.count() >= received or not_terminal(session) == 0


def mid_batch(
    session: Session,
    server: RedisServer,
    workers: list[Proc],
    chooser: random.Random,
    *,
    in_send: bool,
) -> tuple[Proc, str, list[int]] | None:
    """Return a live worker (one at random) whose current batch is part done, or None.

    With ``in_send``, only a worker that is sending one of the batch's rows right now.
    """
    live = {worker.pid: worker for worker in workers if worker.alive()}
    with server.client() as client:
        candidates = []
        for rq_worker in Worker.all(connection=client):
            job_id = rq_worker.get_current_job_id()
            if rq_worker.pid in live and job_id:
                job = Job.fetch(job_id, connection=client)
                ids, token = job.args
                candidates.append((live[rq_worker.pid], token, list(ids)))
    chooser.shuffle(candidates)
    for worker, token, ids in candidates:
        statuses = {row.status for row in rows_with(session, ids, token)}
        started = statuses & ({DeliveryStatus.SENDING} if in_send else set(DeliveryStatus))
        if started - {DeliveryStatus.CLAIMED} and DeliveryStatus.CLAIMED in statuses:
            return worker, token, ids
    return None


def rows_with(session: Session, ids: list[int], token: str) -> list[Delivery]:
    """Return the rows of a batch that still carry its claim token (a fresh read)."""
    session.expire_all()
    rows = list(
        session.scalars(select(Delivery).where(Delivery.id.in_(ids), Delivery.claim_token == token))
    )
    session.commit()
    return rows
