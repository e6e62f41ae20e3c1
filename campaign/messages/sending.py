"""Send a claimed batch: decide every row at once, call the channels, record the outcomes.

One transaction decides the whole batch: it locks the rows and their learners and loads what
the checks read (:mod:`campaign.messages.batch_loading`, about ten statements for the batch),
runs the governor and renders in Python, writes every decision (held rows to their terminal
or deferred state with the reason, rows going out to ``sending`` with their text) and commits.
Then the channels are called row by row, outside any transaction, and the outcomes are written
in small groups.

Every write names the state and the claim token it expects (claimed → sending → sent), so a
job that runs twice, or late, finds nothing left to do for a row another run already took, and
a row is never sent twice. Every row ends in a recorded state with a reason.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from campaign.clock import Clock
from campaign.journeys.spec import Channel
from campaign.messages.batch_facts import BatchFacts, Target
from campaign.messages.batch_loading import load_batch
from campaign.messages.channels.base import (
    ChannelAdapter,
    ChannelError,
    OutgoingMessage,
    TransientChannelError,
    UnknownOutcomeChannelError,
)
from campaign.messages.dispatch import id_among
from campaign.messages.governor import Decision, Verdict
from campaign.messages.preparing import needs_session, prepare
from campaign.messages.recording import (
    BatchResult,
    Outcome,
    OutcomeRecorder,
    RowWrites,
)
from campaign.messages.settings import SendSettings
from campaign.models import Delivery, DeliveryStatus

TERMINAL_FOR = {
    Verdict.SKIP: DeliveryStatus.SKIPPED,
    Verdict.EXPIRE: DeliveryStatus.EXPIRED,
    Verdict.CANCEL: DeliveryStatus.CANCELLED,
}
TASK_CREATED = "task created for the advisor"

DECIDE_ATTEMPTS = 3
"""Tries of a chunk's deciding transaction when the database breaks a deadlock."""
UNSAFE_IN_FLIGHT = 10
"""Rows sent at once on a channel that cannot take a send twice: what a crash can leave to a
human to verify."""


def send_batch(
    session: Session,
    ids: list[int],
    token: str,
    *,
    clock: Clock,
    adapters: Mapping[Channel, ChannelAdapter],
    settings: SendSettings,
) -> BatchResult:
    """Send every row of a claimed batch that still carries ``token``; higher priority first.

    On a channel that cannot take a send twice (e-mail, WeCom mass sends) the batch goes in
    chunks of :data:`UNSAFE_IN_FLIGHT`: a worker that dies leaves at most that many rows in
    ``sending`` (they go to ``verify``), while the rest of the batch, still ``claimed``, goes
    back to ``pending`` and out through another worker.
    """
    result = BatchResult()
    order = _claimed_in_order(session, ids, token)
    result.count("taken elsewhere", len(set(ids)) - len(order))
    if not order:
        return result
    size = len(order) if _safe_to_retry(order[0][1], adapters) else UNSAFE_IN_FLIGHT
    recorder = OutcomeRecorder(session, token, clock, settings, result)
    for start in range(0, len(order), size):
        chunk = [delivery_id for delivery_id, _ in order[start : start + size]]
        going = _decide_chunk(session, chunk, token, clock, settings, result)
        for target, message, attempts in going:
            recorder.renew_lease_if_due()
            recorder.add(target, _call(target, message, attempts, adapters, settings, clock.now()))
        recorder.flush()
    return result


def _decide_chunk(
    session: Session,
    chunk: list[int],
    token: str,
    clock: Clock,
    settings: SendSettings,
    result: BatchResult,
) -> list[tuple[Target, OutgoingMessage, int]]:
    """Decide a chunk in one transaction; try again when the database broke a lock cycle or a
    serialization conflict (it rolled everything back: nothing was decided)."""
    for attempt in range(1, DECIDE_ATTEMPTS + 1):
        counted = BatchResult()
        begin_write(session)
        try:
            going = _decide(session, chunk, token, clock.now(), settings, counted)
            session.commit()  # the decisions land together; the locks on the learners end here
        except OperationalError as exc:
            session.rollback()
            if attempt == DECIDE_ATTEMPTS or not _may_retry(exc):
                raise
            time.sleep(0.05 * attempt)
            continue
        except BaseException:
            session.rollback()
            raise
        for outcome, times in counted.outcomes.items():
            result.count(outcome, times)
        return going
    raise AssertionError("unreachable")


def _may_retry(exc: OperationalError) -> bool:
    """Tell whether PostgreSQL gave up the transaction only to break a deadlock or a
    serialization conflict (SQLSTATE 40P01, 40001): running it again is safe."""
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def _claimed_in_order(session: Session, ids: list[int], token: str) -> list[tuple[int, Channel]]:
    """Return the batch's rows still claimed under ``token``, in sending order (higher
    priority first, then earlier due), so a chunk never spends a learner's cap before a more
    important row of theirs."""
    rows = session.execute(
        select(Delivery.id, Delivery.channel)
        .where(
            id_among(session, ids),
            Delivery.status == DeliveryStatus.CLAIMED,
            Delivery.claim_token == token,
        )
        .order_by(Delivery.priority.desc(), Delivery.due_at, Delivery.id)
    ).all()
    session.commit()
    return [(delivery_id, Channel(channel)) for delivery_id, channel in rows]


def _safe_to_retry(channel: Channel, adapters: Mapping[Channel, ChannelAdapter]) -> bool:
    """Tell whether a send cut off mid-way may simply be sent again (the far side
    de-duplicates, or, for a task, it is created with its "sent" mark or not at all)."""
    return channel is Channel.ADVISOR_TASK or bool(
        getattr(adapters.get(channel), "idempotent", False)
    )


def begin_write(session: Session) -> None:
    """Start the deciding transaction as a writer: on SQLite, ``BEGIN IMMEDIATE``.

    SQLite otherwise starts a transaction at the first write, after the counts were read, so
    two workers could both read "one send left today" and both send. PostgreSQL locks rows.
    """
    connection = session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name == "sqlite" and driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _decide(
    session: Session,
    ids: list[int],
    token: str,
    now: datetime,
    settings: SendSettings,
    result: BatchResult,
) -> list[tuple[Target, OutgoingMessage, int]]:
    """Decide every row under the batch's locks and write the decisions; return what goes out."""
    wecom_period = settings.wecom_quota_period if settings.wecom_quota is not None else None
    targets, facts = load_batch(session, ids, token, now=now, wecom_period=wecom_period)
    result.count("taken elsewhere", len(ids) - len(targets))
    writes = RowWrites()
    going = []
    for target in targets:
        row = target.delivery
        try:
            decision, message = _prepare_one(session, target, facts, now, settings)
        except Exception as exc:  # a broken row must not stop the batch: record it, go on
            writes.add(row.id, status=DeliveryStatus.FAILED, reason=f"could not prepare: {exc}")
            result.count("failed")
            continue
        if decision.goes_out and message is not None:
            facts.count_send(target, now)
            writes.add(
                row.id,
                status=DeliveryStatus.SENDING,
                lease_until=now + settings.send_lease,
                sent_at=now,
                text=message.text,
                variant=message.metadata.get("variant"),
                reason=None,
                attempts=row.attempts + 1,
            )
            going.append((target, message, row.attempts + 1))
        else:
            result.count(_hold(writes, row.id, decision))
    writes.apply(session, token, expect=(DeliveryStatus.CLAIMED,), now=now)
    return going


def _prepare_one(
    session: Session, target: Target, facts: BatchFacts, now: datetime, settings: SendSettings
) -> tuple[Decision, OutgoingMessage | None]:
    """Prepare a row; a row that touches the database does so in a savepoint of its own."""
    if not needs_session(target):
        return prepare(session, target, facts, now, settings)
    with session.begin_nested():
        return prepare(session, target, facts, now, settings)


def _hold(writes: RowWrites, delivery_id: int, decision: Decision) -> str:
    """Write a "not now" or "never" decision; return the outcome to count."""
    reason = str(decision.reason) if decision.reason else None
    if decision.verdict is Verdict.DEFER:
        assert decision.retry_at is not None
        writes.add(
            delivery_id,
            status=DeliveryStatus.PENDING,
            due_at=decision.retry_at,
            claim_token=None,
            lease_until=None,
            reason=f"waiting: {reason}",
        )
        return "deferred"
    status = TERMINAL_FOR[decision.verdict]
    writes.add(delivery_id, status=status, reason=reason)
    return str(status)


def _call(
    target: Target,
    message: OutgoingMessage,
    attempts: int,
    adapters: Mapping[Channel, ChannelAdapter],
    settings: SendSettings,
    now: datetime,
) -> Outcome:
    """Hand one message to its channel and say what became of it."""
    step, row = target.step, target.delivery
    if step.channel is Channel.ADVISOR_TASK:
        task = {
            "delivery_id": row.id,
            "cohort_id": row.cohort_id,
            "enrollment_id": row.enrollment_id,
            "advisor_id": row.advisor_id,
            "step_key": step.key,
            "script": message.text,
            "voice": step.voice,
            "due_at": now + (step.deadline or settings.task_deadline),
            "created_at": now,
        }
        return Outcome("sent", {"status": DeliveryStatus.SENT, "reason": TASK_CREATED}, task)
    adapter = adapters.get(step.channel)
    try:
        if adapter is None:
            raise ChannelError(f"channel {step.channel} is not configured")
        sent = adapter.send(message)
    except TransientChannelError as exc:
        return _retry(exc, now, settings, attempts)
    except UnknownOutcomeChannelError as exc:
        return Outcome("verify", {"status": DeliveryStatus.VERIFY, "reason": exc.reason})
    except Exception as exc:
        reason = exc.reason if isinstance(exc, ChannelError) else f"{type(exc).__name__}: {exc}"
        return Outcome("failed", {"status": DeliveryStatus.FAILED, "reason": reason})
    return Outcome(
        "sent",
        {"status": DeliveryStatus.SENT, "provider_id": sent.provider_id, "reason": sent.detail},
    )


def _retry(
    exc: TransientChannelError, now: datetime, settings: SendSettings, attempts: int
) -> Outcome:
    """Plan another attempt with backoff and jitter, or give up after the last one."""
    if attempts >= settings.max_attempts:
        reason = f"failed after {attempts} attempts: {exc.reason}"
        return Outcome("failed", {"status": DeliveryStatus.FAILED, "reason": reason})
    delay = settings.backoff * (2 ** (attempts - 1)) * random.uniform(0.8, 1.2)
    if exc.retry_after:
        delay = max(delay, timedelta(seconds=exc.retry_after))
    values = {
        "status": DeliveryStatus.PENDING,
        "due_at": now + delay,
        "claim_token": None,
        "lease_until": None,
        "sent_at": None,
        "reason": f"retrying: {exc.reason}",
    }
    return Outcome("retrying", values)
