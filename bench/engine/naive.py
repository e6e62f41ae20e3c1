"""(d) The naive baseline: the same messages as one RQ job per message.

What a first version of the engine would do: at planning, insert the enrollments and put one
job per message on a queue (plain ``enqueue``, everything due now, so RQ's scheduler and its
1,000 jobs a second per queue are not in the way: the baseline's best case). The job loads the
learner, the enrollment and the advisor, renders the same template in the same sandbox, writes
to the same log channel (/dev/null) and records the send as one ``deliveries`` row in its own
transaction. No claim, no lease, no governor, no condition: it does less than the engine for
each message, so the ratio flatters the baseline, not the engine.

The workers are ``rq.SimpleWorker`` processes started with :func:`work`, as many as the
engine's.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from rq import Queue, SimpleWorker
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bench.engine.fixture import JOURNEY, LINKS, STEP, Bench, days_from_today, progress
from campaign.db import make_engine, make_sessionmaker
from campaign.journeys.loader import load_journey
from campaign.journeys.spec import Audience, Channel
from campaign.messages.channels.base import OutgoingMessage, Recipient
from campaign.messages.channels.log import LogChannel
from campaign.messages.templates import render
from campaign.models import (
    Advisor,
    Cohort,
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Learner,
)
from campaign.redis_server import connect

QUEUE = "bench:naive"
WORKER = "from bench.engine.naive import work; work()"


@lru_cache(maxsize=1)
def _context() -> tuple[sessionmaker[Session], str, LogChannel]:
    """Build once per worker process: sessions, the step's template, the log channel."""
    spec = load_journey(JOURNEY, "bench-engine.yaml").spec
    assert spec is not None
    template = spec.step(STEP).variants[0].template
    return (
        make_sessionmaker(make_engine(os.environ["CAMPAIGN_DATABASE_URL"])),
        template,
        LogChannel("/dev/null", logger=None),
    )


def naive_send(enrollment_id: int) -> None:
    """Send one message the naive way: load, render, send, insert the record."""
    sessions, template, channel = _context()
    with sessions() as session:
        enrollment = session.get(Enrollment, enrollment_id)
        assert enrollment is not None
        learner = session.get(Learner, enrollment.learner_id)
        advisor = session.get(Advisor, enrollment.advisor_id) if enrollment.advisor_id else None
        assert learner is not None
        now = datetime.now(UTC)
        names = {
            "learner": {"name": learner.name},
            "advisor": {"name": advisor.name if advisor else ""},
        }
        text = render(template, names | {"links": LINKS})
        key = f"naive-{enrollment_id}"
        channel.send(
            OutgoingMessage(
                delivery_id=0,
                idempotency_key=key,
                channel=Channel.WECOM,
                text=text,
                recipient=Recipient(learner.id, learner.external_id, learner.name, "UTC"),
                journey_key="bench-engine",
                step_key=STEP,
            )
        )
        session.add(
            Delivery(
                cohort_id=enrollment.cohort_id,
                enrollment_id=enrollment.id,
                advisor_id=enrollment.advisor_id,
                target=f"e{enrollment.id}",
                audience=Audience.LEARNER,
                step_key=STEP,
                occurrence="naive",
                channel=Channel.WECOM,
                planned_at=now,
                due_at=now,
                status=DeliveryStatus.SENT,
                reason="naive",
                text=text,
                sent_at=now,
                updated_at=now,
            )
        )
        session.commit()


def work() -> None:
    """Run one naive worker (an RQ SimpleWorker on the naive queue) until stopped."""
    redis = connect(os.environ["CAMPAIGN_REDIS_URL"])
    SimpleWorker([Queue(QUEUE, connection=redis)], connection=redis).work(
        logging_level="WARNING", with_scheduler=False
    )


def naive(bench: Bench, count: int) -> dict[str, Any]:
    """Send ``count`` messages the naive way; time from planning until all are recorded."""
    learners = bench.learners(count)
    cohort = bench.cohort(days_from_today(1))
    queue = Queue(QUEUE, connection=bench.redis)
    bench.start_processes([WORKER], "naive-worker")
    progress(f"d) naive: {count:,} messages, one RQ job each")
    started = time.monotonic()
    now = datetime.now(UTC)
    version = _version(bench, cohort)
    rows = [
        {
            "cohort_id": cohort,
            "learner_id": lid,
            "advisor_id": bench.advisors[lid % len(bench.advisors)],
            "journey_version_id": version,
            "state": EnrollmentState.ACTIVE,
            "enrolled_at": now,
            "points": 0,
        }
        for lid in learners
    ]
    with bench.sessions() as session:
        for start_at in range(0, count, 2000):
            ids = session.scalars(
                insert(Enrollment).returning(Enrollment.id), rows[start_at : start_at + 2000]
            ).all()
            session.commit()
            queue.enqueue_many(
                [
                    Queue.prepare_data(naive_send, (eid,), result_ttl=0, failure_ttl=3600)
                    for eid in ids
                ]
            )
    planned = time.monotonic()

    def left() -> int:
        with bench.sessions() as session:
            done = session.scalar(
                select(func.count(Delivery.id)).where(Delivery.cohort_id == cohort)
            )
        return count - int(done or 0)

    ended = bench.wait_done(cohort, count, label="d) naive", timeout=max(600, count / 5), done=left)
    bench.stop_processes()
    return {
        "messages": count,
        "seconds": ended - started,
        "plan_seconds": planned - started,
        "per_second": count / (ended - started),
        "failed_jobs": len(queue.failed_job_registry),
    }


def _version(bench: Bench, cohort: int) -> int:
    with bench.sessions() as session:
        found = session.get(Cohort, cohort)
        assert found is not None
        return found.journey_version_id
