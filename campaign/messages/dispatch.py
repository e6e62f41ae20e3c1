"""Claim due deliveries in batches, hand them to the queues, and recover abandoned claims.

The schedule is in SQL: a claim is a conditional UPDATE that stamps a token and a lease on due
``pending`` rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so dispatchers on many hosts never
take the same row; on SQLite the single write transaction does the same). Redis only carries
the batch ids: if it loses them, the lease runs out and :func:`sweep` puts the rows back.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaign.db import among
from campaign.journeys.spec import Channel
from campaign.models import Delivery, DeliveryStatus

VERIFY_REASON = "the worker stopped during the send; check the channel before sending again"
RESEND_REASON = "retrying after the worker stopped (same idempotency key)"
"""A row whose send may have gone out: the worker sends its stored text again under the same
key (the channel de-duplicates) and does not decide again."""


@dataclass(frozen=True)
class Batch:
    """Claimed rows of one channel, sent by one job."""

    token: str
    channel: Channel
    ids: tuple[int, ...]


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    job_size: int,
    skip: Collection[Channel] = (),
) -> list[Batch]:
    """Claim up to ``limit`` due rows (earliest first, then by priority) and group them into
    per-channel batches of at most ``job_size`` (more only when one target has more rows due
    than that). Rows of the channels in ``skip`` (whose queues are full) wait. The caller
    commits.
    """
    due = (
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.PENDING, Delivery.due_at <= now)
        .order_by(Delivery.due_at, Delivery.priority.desc())
        .limit(limit)
    )
    if skip:
        due = due.where(Delivery.channel.not_in(sorted(skip)))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    chosen = list(session.scalars(due))  # locked until the claim commits (PostgreSQL)
    if not chosen:
        return []
    token = uuid.uuid4().hex
    claimed = session.execute(
        update(Delivery)
        .where(id_among(session, chosen), Delivery.status == DeliveryStatus.PENDING)
        .values(
            status=DeliveryStatus.CLAIMED,
            claim_token=token,
            lease_until=now + lease,
            updated_at=now,
        )
        .returning(Delivery.id, Delivery.channel, Delivery.target)
        .execution_options(synchronize_session=False)
    ).all()
    # One target's rows stay in one batch: the worker sends a batch in priority order, so two
    # rows of one learner due together are weighed against the daily cap by priority, never
    # by which of two workers running two batches at once got there first.
    by_channel: dict[Channel, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for delivery_id, channel, target in claimed:
        by_channel[Channel(channel)][target].append(delivery_id)
    batches = []
    for channel, targets in sorted(by_channel.items()):
        ids: list[int] = []
        for group in sorted(targets.values(), key=min):
            if ids and len(ids) + len(group) > job_size:
                batches.append(Batch(token, channel, tuple(ids)))
                ids = []
            ids.extend(sorted(group))
        if ids:
            batches.append(Batch(token, channel, tuple(ids)))
    return batches


def release(session: Session, batch: Batch, *, now: datetime) -> int:
    """Return a batch that could not be queued to ``pending`` at once (no wait for the lease)."""
    result = session.execute(
        update(Delivery)
        .where(
            id_among(session, batch.ids),
            Delivery.status == DeliveryStatus.CLAIMED,
            Delivery.claim_token == batch.token,
        )
        .values(status=DeliveryStatus.PENDING, claim_token=None, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


SWEEP_LIMIT = 20_000
"""Rows one sweep statement takes back at most (the next pass takes the rest)."""


def id_among(session: Session, ids: Collection[int]) -> Any:
    """Return ``deliveries.id`` among ``ids``: one array parameter on PostgreSQL (no statement
    with thousands of placeholders to build and parse), ``IN`` elsewhere."""
    return among(session, Delivery.id, ids)


@dataclass
class SweepResult:
    reclaimed: int = 0  # claimed rows whose job never ran: back to pending
    retried: int = 0  # sending rows on idempotent channels: retried with the same key
    to_verify: int = 0  # sending rows on other channels: a human checks
    details: dict[str, int] = field(default_factory=dict)


def sweep(session: Session, *, now: datetime, idempotent: Iterable[Channel]) -> SweepResult:
    """Recover rows whose lease ran out. The caller commits.

    On PostgreSQL a row that a worker holds locked right now is skipped: the worker is alive
    and deciding it (a late job whose lease ran out while it waited in the queue), and waiting
    for it, with rows of other batches locked in another order, could deadlock.
    """
    idempotent_channels = sorted(set(idempotent))
    locking = session.get_bind().dialect.name == "postgresql"

    def run(statement: Any, *conditions: Any) -> int:
        if locking:
            # Two statements, not "id IN (SELECT … FOR UPDATE SKIP LOCKED)": PostgreSQL may run
            # such a subquery again for every outer row (seen: 44 s for 1,900 rows).
            free = select(Delivery.id).where(*conditions).with_for_update(skip_locked=True)
            ids = list(session.scalars(free.limit(SWEEP_LIMIT)))
            if not ids:
                return 0
            statement = statement.where(id_among(session, ids))
        statement = statement.where(*conditions)
        result = session.execute(statement.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)

    expired = Delivery.lease_until < now
    result = SweepResult()
    result.reclaimed = run(
        update(Delivery).values(
            status=DeliveryStatus.PENDING, claim_token=None, lease_until=None, updated_at=now
        ),
        Delivery.status == DeliveryStatus.CLAIMED,
        expired,
    )
    result.retried = run(
        update(Delivery).values(
            status=DeliveryStatus.PENDING,
            claim_token=None,
            lease_until=None,
            sent_at=None,
            reason=RESEND_REASON,
            updated_at=now,
        ),
        Delivery.status == DeliveryStatus.SENDING,
        expired,
        Delivery.channel.in_(idempotent_channels),
    )
    result.to_verify = run(
        update(Delivery).values(status=DeliveryStatus.VERIFY, reason=VERIFY_REASON, updated_at=now),
        Delivery.status == DeliveryStatus.SENDING,
        expired,
        Delivery.channel.not_in(idempotent_channels),
    )
    return result


def dispatch_once(
    session: Session,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    job_size: int,
    enqueue: Callable[[Batch], None],
    skip: Collection[Channel] = (),
) -> list[Batch]:
    """Claim due rows, commit the claim, then enqueue each batch (releasing what fails).

    The claim is committed before anything is queued, so a worker never sees a row that is
    not yet claimed; a batch whose enqueue fails goes straight back to ``pending``.
    """
    batches = claim_due(session, now=now, limit=limit, lease=lease, job_size=job_size, skip=skip)
    session.commit()
    queued = []
    for batch in batches:
        try:
            enqueue(batch)
        except Exception:  # Redis down or full: the rows go back and are claimed again later
            release(session, batch, now=now)
            session.commit()
            continue
        queued.append(batch)
    return queued
