"""The dispatcher loop: sweep expired leases, claim what is due, queue it, repeat.

Any number of these may run against PostgreSQL (claims skip locked rows). On SQLite one runs at
a time: a lock file in the instance folder makes a second one wait instead of racing.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from redis import Redis

from campaign.journeys.spec import Channel
from campaign.messages.dispatch import Batch, dispatch_once, sweep
from campaign.messages.runtime import Runtime
from campaign.offers.service import sweep_offers
from campaign.queues import SEND_JOB, QueueName, queue

if TYPE_CHECKING:
    from campaign.health import Heartbeat

log = logging.getLogger("campaign.dispatcher")

OFFER_SWEEP_EVERY = timedelta(minutes=1)  # on the engine's clock
JOB_RESULT_TTL = 3600  # seconds RQ keeps a finished job's result: the rows are the record


@dataclass
class DispatcherStats:
    passes: int = 0
    claimed: int = 0
    batches: int = 0
    reclaimed: int = 0
    to_verify: int = 0
    held_back: int = 0  # channels whose queue was full at the last pass
    offers_swept_at: datetime | None = None


def full_queues(redis: Redis, max_jobs: int) -> set[Channel]:
    """Return the channels whose queue already holds ``max_jobs`` batches or more.

    Backpressure: a claim starts its lease, so rows claimed faster than the workers take them
    would wait in the queue until their lease ran out, be taken back by the sweeper and queued
    again (nothing sent twice, but the work done several times). Claiming only for queues with
    room keeps the rows in SQL, pending, until a worker can take them.
    """
    with redis.pipeline(transaction=False) as pipe:
        for channel in Channel:
            pipe.llen(queue(QueueName.for_channel(channel), redis).key)
        depths = pipe.execute()
    return {channel for channel, depth in zip(Channel, depths, strict=True) if depth >= max_jobs}


def enqueuer(redis: Redis) -> Callable[[Batch], None]:
    """Return a function that puts a batch on its channel's queue (one job per batch)."""
    queues = {name: queue(name, redis) for name in QueueName}

    def enqueue(batch: Batch) -> None:
        queues[QueueName.for_channel(batch.channel)].enqueue(
            SEND_JOB,
            list(batch.ids),
            batch.token,
            job_id=f"send-{batch.token}-{batch.channel}-{batch.ids[0]}",
            result_ttl=JOB_RESULT_TTL,
            failure_ttl=24 * 3600,
        )

    return enqueue


@contextmanager
def single_dispatcher(runtime: Runtime, instance_path: str) -> Iterator[None]:
    """On SQLite, hold an exclusive lock file for as long as this dispatcher runs."""
    if not str(runtime.config.get("DATABASE_URL", "")).startswith("sqlite"):
        yield
        return
    path = Path(instance_path) / "dispatcher.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another dispatcher runs on this SQLite database; waiting for it to stop")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def dispatch_pass(
    runtime: Runtime,
    enqueue: Callable[[Batch], None],
    stats: DispatcherStats,
    full: Callable[[], set[Channel]] = set,
) -> int:
    """Run one sweep and one claim (for the channels whose queue has room); return how many
    rows were queued."""
    session = runtime.sessions()
    try:
        now = runtime.clock.now()
        swept = sweep(session, now=now, idempotent=runtime.idempotent_channels)
        session.commit()
        if stats.offers_swept_at is None or now - stats.offers_swept_at >= OFFER_SWEEP_EVERY:
            sweep_offers(session, now)  # open offers whose window opened, close expired ones
            session.commit()
            stats.offers_swept_at = now
        stats.reclaimed += swept.reclaimed + swept.retried
        stats.to_verify += swept.to_verify
        settings = runtime.dispatch
        skip = full()
        stats.held_back = len(skip)
        if len(skip) == len(Channel):
            return 0
        batches = dispatch_once(
            session,
            now=now,
            limit=settings.limit,
            lease=settings.lease,
            job_size=settings.job_size,
            enqueue=enqueue,
            skip=skip,
        )
    finally:
        session.close()
    queued = sum(len(b.ids) for b in batches)
    stats.passes += 1
    stats.claimed += queued
    stats.batches += len(batches)
    return queued


def run_dispatcher(
    runtime: Runtime,
    redis: Redis,
    *,
    stop: threading.Event,
    burst: bool = False,
    on_pass: Callable[[int], None] | None = None,
    heartbeat: Heartbeat | None = None,
) -> DispatcherStats:
    """Dispatch until ``stop`` is set (or, with ``burst``, until a pass finds nothing due).

    A pass that fills a whole claim goes again at once; otherwise the loop waits one tick.
    Database or Redis errors are logged and retried on the next tick: nothing is lost,
    because the rows stay in SQL. Each pass ticks ``heartbeat`` (a failed one as failed).
    """
    enqueue = enqueuer(redis)
    stats = DispatcherStats()
    max_jobs = runtime.dispatch.max_queued_jobs

    def full() -> set[Channel]:
        return full_queues(redis, max_jobs)

    while not stop.is_set():
        try:
            queued = dispatch_pass(runtime, enqueue, stats, full)
        except Exception:  # keep running: the schedule is in SQL and the next pass retries
            log.exception("dispatch pass failed; retrying in %.1f s", runtime.dispatch.tick)
            queued = 0
            if heartbeat is not None:
                heartbeat.tick(ok=False)
            if burst:
                raise
        else:
            if heartbeat is not None:
                heartbeat.tick(
                    last_claimed=queued,
                    passes_total=stats.passes,
                    claimed_total=stats.claimed,
                    batches_total=stats.batches,
                    reclaimed_total=stats.reclaimed,
                    to_verify_total=stats.to_verify,
                )
        if on_pass is not None:
            on_pass(queued)
        if queued >= runtime.dispatch.limit:
            continue
        if burst and queued == 0:
            break
        stop.wait(runtime.dispatch.tick)
    return stats
