"""The engine's phases of the benchmark: end-to-end throughput, dispatch lag, a 100k burst.

Each phase uses its own cohort and its own learners, so the per-learner daily cap never turns a
send into a skip, and one phase's rows never count in another's numbers.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from sqlalchemy import select, update

from bench.engine.fixture import OPEN, Bench, days_from_today, progress
from campaign.models import Delivery, DeliveryStatus
from campaign.queues import QueueName


def percentile(values: list[float], share: float) -> float:
    """Return the ``share`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def throughput(bench: Bench, count: int) -> dict[str, Any]:
    """(a) Enroll ``count`` learners whose step is due at once; time until every row is done.

    The clock starts before the first ``enroll()`` (planning is part of it) and stops when no
    row of the cohort is pending, claimed or sending. The dispatcher claims each chunk as soon
    as it is committed, so planning and sending overlap, as they would in production.
    """
    learners = bench.learners(count)
    cohort = bench.cohort(days_from_today(1))  # D-1 00:00 is today: due at enrollment
    progress(f"a) end to end: {count:,} deliveries")
    started = time.monotonic()
    bench.enroll(cohort, learners, label="a) planning")
    planned = time.monotonic()
    ended = bench.wait_done(cohort, count, label="a) end to end", timeout=max(600, count / 5))
    seconds = ended - started
    return {
        "deliveries": count,
        "seconds": seconds,
        "plan_seconds": planned - started,
        "per_second": count / seconds,
        "statuses": bench.statuses(cohort),
    }


def _spread(bench: Bench, cohort: int, first_due: datetime, rate: float) -> list[int]:
    """Make the cohort's rows due one after another at ``rate`` a second from ``first_due``."""
    with bench.sessions() as session:
        ids = list(
            session.scalars(
                select(Delivery.id).where(Delivery.cohort_id == cohort).order_by(Delivery.id)
            )
        )
        values = [
            {"id": row, "due_at": first_due + timedelta(seconds=n / rate)}
            for n, row in enumerate(ids)
        ]
        for value in values:
            value["planned_at"] = value["due_at"]
        session.execute(update(Delivery), values)
        session.commit()
    return ids


def _enqueue_times(bench: Bench) -> dict[int, datetime]:
    """Return when each delivery id was first put on the send queue (RQ's ``enqueued_at``)."""
    queue = Queue(str(QueueName.WECOM), connection=bench.redis)
    job_ids = set(queue.get_job_ids())
    for registry in (FinishedJobRegistry, StartedJobRegistry, FailedJobRegistry):
        job_ids.update(registry(queue=queue).get_job_ids())
    first: dict[int, datetime] = {}
    listed = sorted(job_ids)
    for start_at in range(0, len(listed), 500):
        for job in Job.fetch_many(listed[start_at : start_at + 500], connection=bench.redis):
            if job is None or job.enqueued_at is None:
                continue
            at = job.enqueued_at.replace(tzinfo=UTC)
            for delivery_id in job.args[0]:
                if delivery_id not in first or at < first[delivery_id]:
                    first[delivery_id] = at
    return first


def lag(bench: Bench, rate: float, seconds: float, tick: float) -> dict[str, Any]:
    """(b) Rows fall due at a steady ``rate`` for ``seconds``; measure due -> enqueued.

    The rows are planned by ``enroll()`` for a day a month away, then moved (one UPDATE per
    row, before the clock starts) to fall due one every ``1/rate`` seconds from two seconds
    on. The enqueue time of a row is its RQ job's ``enqueued_at``. The workers run all along,
    so the dispatcher shares the machine with them, as in production; what they have not sent
    when the phase ends is cancelled, so it does not spill into the next phase.
    """
    count = int(rate * seconds)
    learners = bench.learners(count)
    cohort = bench.cohort(days_from_today(30))
    progress(f"b) dispatch lag: {count:,} deliveries due at {rate:,.0f}/s for {seconds:g} s")
    bench.enroll(cohort, learners, label="b) planning")
    first_due = datetime.now(UTC) + timedelta(seconds=3)
    ids = _spread(bench, cohort, first_due, rate)
    last_due = first_due + timedelta(seconds=(len(ids) - 1) / rate)
    time.sleep(max((last_due - datetime.now(UTC)).total_seconds(), 0) + 2 * tick + 1)
    with bench.sessions() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.due_at, Delivery.sent_at, Delivery.status).where(
                Delivery.cohort_id == cohort
            )
        ).all()
    enqueued = _enqueue_times(bench)
    lags = [(enqueued[i] - due).total_seconds() for i, due, _, _ in rows if i in enqueued]
    sent = [(s - due).total_seconds() for _, due, s, st in rows if s and st == "sent"]
    _cancel_rest(bench, cohort)
    result: dict[str, Any] = {
        "rate": rate,
        "seconds": seconds,
        "deliveries": count,
        "enqueued": len(lags),
        "not_enqueued": count - len(lags),
        "sent_in_window": len(sent),
    }
    if lags:
        result |= {
            "lag_p50_ms": 1000 * statistics.median(lags),
            "lag_p99_ms": 1000 * percentile(lags, 0.99),
            "lag_max_ms": 1000 * max(lags),
        }
    if sent:
        result |= {
            "sent_lag_p50_ms": 1000 * statistics.median(sent),
            "sent_lag_p99_ms": 1000 * percentile(sent, 0.99),
        }
    return result


def _cancel_rest(bench: Bench, cohort: int) -> None:
    """End a phase: drop its queued jobs and cancel its unsent rows, then let workers finish."""
    Queue(str(QueueName.WECOM), connection=bench.redis).empty()  # type: ignore[no-untyped-call]
    with bench.sessions() as session:
        session.execute(
            update(Delivery)
            .where(
                Delivery.cohort_id == cohort,
                Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.CLAIMED]),
            )
            .values(status=DeliveryStatus.CANCELLED, reason="benchmark phase over")
        )
        session.commit()
    bench.idle()
    deadline = time.monotonic() + 120
    while bench.open_rows(cohort) and time.monotonic() < deadline:
        time.sleep(0.1)  # a row a worker was sending when the phase ended


def burst(bench: Bench, count: int) -> dict[str, Any]:
    """(c) ``count`` rows due at the same instant; time from that instant until all are done.

    Planned by ``enroll()`` for a day a month away, then moved by one UPDATE to fall due
    together two seconds later (as a cohort of ``count`` learners with a step at 09:00 would).
    """
    learners = bench.learners(count)
    cohort = bench.cohort(days_from_today(30))
    progress(f"c) burst: {count:,} deliveries due at the same instant")
    bench.enroll(cohort, learners, label="c) planning")
    due = datetime.now(UTC) + timedelta(seconds=2)
    with bench.sessions() as session:
        session.execute(
            update(Delivery).where(Delivery.cohort_id == cohort).values(due_at=due, planned_at=due)
        )
        session.commit()
    wait = (due - datetime.now(UTC)).total_seconds()
    time.sleep(max(wait, 0))
    started = time.monotonic()
    ended = bench.wait_done(cohort, count, label="c) burst", timeout=max(600, count / 5))
    with bench.sessions() as session:
        open_left = session.scalar(
            select(Delivery.id).where(Delivery.cohort_id == cohort, Delivery.status.in_(OPEN))
        )
    assert open_left is None
    return {
        "deliveries": count,
        "drain_seconds": ended - started,
        "per_second": count / (ended - started),
        "statuses": bench.statuses(cohort),
    }
