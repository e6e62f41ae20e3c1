"""Send a claimed batch: re-check each row at send time, render, call the channel, record.

Each row moves by conditional updates that name the state and claim token they expect
(claimed → sending → sent), so a job that runs twice, or late, finds nothing left to do for a
row another run already took. Every row ends in a recorded state with a reason.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaign.clock import Clock
from campaign.journeys.spec import Channel, Step
from campaign.messages.channels.base import (
    ChannelAdapter,
    ChannelError,
    OutgoingMessage,
    TransientChannelError,
    UnknownOutcomeChannelError,
)
from campaign.messages.governor import Decision, Verdict
from campaign.messages.preparing import prepare
from campaign.messages.settings import SendSettings
from campaign.models import (
    Cohort,
    Delivery,
    DeliveryStatus,
    Task,
)

TERMINAL_FOR = {
    Verdict.SKIP: DeliveryStatus.SKIPPED,
    Verdict.EXPIRE: DeliveryStatus.EXPIRED,
    Verdict.CANCEL: DeliveryStatus.CANCELLED,
}


@dataclass
class BatchResult:
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


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

    Each row is checked at its own moment on ``clock`` (a batch may take a while).
    """
    rows = list(
        session.scalars(
            select(Delivery)
            .where(
                Delivery.id.in_(ids),
                Delivery.status == DeliveryStatus.CLAIMED,
                Delivery.claim_token == token,
            )
            .order_by(Delivery.priority.desc(), Delivery.due_at, Delivery.id)
        )
    )
    session.commit()
    result = BatchResult()
    for delivery_id in [row.id for row in rows]:
        result.count(_send_one(session, delivery_id, token, clock.now(), adapters, settings))
    return result


def _transition(
    session: Session, delivery_id: int, token: str, expect: list[DeliveryStatus], **values: Any
) -> bool:
    """Move a row only if it is still in an expected state under our token."""
    outcome = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.claim_token == token,
            Delivery.status.in_(expect),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(outcome, "rowcount", 0))


def _send_one(
    session: Session,
    delivery_id: int,
    token: str,
    now: datetime,
    adapters: Mapping[Channel, ChannelAdapter],
    settings: SendSettings,
) -> str:
    delivery = session.get(Delivery, delivery_id, populate_existing=True)
    if (
        delivery is None
        or delivery.status != DeliveryStatus.CLAIMED
        or delivery.claim_token != token
    ):
        session.rollback()
        return "taken elsewhere"
    cohort = session.get(Cohort, delivery.cohort_id)
    assert cohort is not None
    try:
        prepared = prepare(session, delivery, cohort, now, settings)
    except Exception as exc:  # a broken row must not stop the batch: record it and go on
        session.rollback()
        _transition(
            session,
            delivery_id,
            token,
            [DeliveryStatus.CLAIMED],
            status=DeliveryStatus.FAILED,
            reason=f"could not prepare: {exc}"[:200],
            updated_at=now,
        )
        session.commit()
        return "failed"
    decision, message, step = prepared
    if decision.verdict is not Verdict.SEND or message is None:
        return _hold(session, delivery_id, token, decision, now)
    moved = _transition(
        session,
        delivery_id,
        token,
        [DeliveryStatus.CLAIMED],
        status=DeliveryStatus.SENDING,
        lease_until=now + settings.send_lease,
        sent_at=now,
        text=message.text,
        variant=message.metadata.get("variant"),
        reason=None,
        attempts=delivery.attempts + 1,
        updated_at=now,
    )
    session.commit()  # the lock on the learner ends here: the cap now counts this row
    if not moved:
        return "taken elsewhere"
    if step.channel is Channel.ADVISOR_TASK:
        return _create_task(session, delivery_id, token, message, step, now, settings)
    adapter = adapters.get(step.channel)
    try:
        if adapter is None:
            raise ChannelError(f"channel {step.channel} is not configured")
        sent = adapter.send(message)
    except TransientChannelError as exc:
        return _retry(session, delivery_id, token, exc, now, settings, delivery.attempts + 1)
    except UnknownOutcomeChannelError as exc:
        _transition(
            session,
            delivery_id,
            token,
            [DeliveryStatus.SENDING, DeliveryStatus.VERIFY],
            status=DeliveryStatus.VERIFY,
            reason=exc.reason[:200],
            updated_at=now,
        )
        session.commit()
        return "verify"
    except Exception as exc:
        reason = exc.reason if isinstance(exc, ChannelError) else f"{type(exc).__name__}: {exc}"
        _transition(
            session,
            delivery_id,
            token,
            [DeliveryStatus.SENDING, DeliveryStatus.VERIFY],
            status=DeliveryStatus.FAILED,
            reason=reason[:200],
            updated_at=now,
        )
        session.commit()
        return "failed"
    _transition(
        session,
        delivery_id,
        token,
        [DeliveryStatus.SENDING, DeliveryStatus.VERIFY],
        status=DeliveryStatus.SENT,
        provider_id=sent.provider_id,
        reason=sent.detail[:200] if sent.detail else None,
        updated_at=now,
    )
    session.commit()
    return "sent"


def _hold(session: Session, delivery_id: int, token: str, decision: Decision, now: datetime) -> str:
    reason = str(decision.reason) if decision.reason else None
    if decision.verdict is Verdict.DEFER:
        assert decision.retry_at is not None
        _transition(
            session,
            delivery_id,
            token,
            [DeliveryStatus.CLAIMED],
            status=DeliveryStatus.PENDING,
            due_at=decision.retry_at,
            claim_token=None,
            lease_until=None,
            reason=f"waiting: {reason}",
            updated_at=now,
        )
        outcome = "deferred"
    else:
        status = TERMINAL_FOR[decision.verdict]
        _transition(
            session,
            delivery_id,
            token,
            [DeliveryStatus.CLAIMED],
            status=status,
            reason=reason,
            updated_at=now,
        )
        outcome = str(status)
    session.commit()
    return outcome


def _retry(
    session: Session,
    delivery_id: int,
    token: str,
    exc: TransientChannelError,
    now: datetime,
    settings: SendSettings,
    attempts: int,
) -> str:
    if attempts >= settings.max_attempts:
        _transition(
            session,
            delivery_id,
            token,
            [DeliveryStatus.SENDING, DeliveryStatus.VERIFY],
            status=DeliveryStatus.FAILED,
            reason=f"failed after {attempts} attempts: {exc.reason}"[:200],
            updated_at=now,
        )
        session.commit()
        return "failed"
    delay = settings.backoff * (2 ** (attempts - 1)) * random.uniform(0.8, 1.2)
    if exc.retry_after:
        delay = max(delay, timedelta(seconds=exc.retry_after))
    _transition(
        session,
        delivery_id,
        token,
        [DeliveryStatus.SENDING, DeliveryStatus.VERIFY],
        status=DeliveryStatus.PENDING,
        due_at=now + delay,
        claim_token=None,
        lease_until=None,
        sent_at=None,
        reason=f"retrying: {exc.reason}"[:200],
        updated_at=now,
    )
    session.commit()
    return "retrying"


def _create_task(
    session: Session,
    delivery_id: int,
    token: str,
    message: OutgoingMessage,
    step: Step,
    now: datetime,
    settings: SendSettings,
) -> str:
    delivery = session.get(Delivery, delivery_id)
    assert delivery is not None
    session.add(
        Task(
            delivery_id=delivery_id,
            cohort_id=delivery.cohort_id,
            enrollment_id=delivery.enrollment_id,
            advisor_id=delivery.advisor_id,
            step_key=step.key,
            script=message.text,
            voice=step.voice,
            due_at=now + (step.deadline or settings.task_deadline),
            created_at=now,
        )
    )
    _transition(
        session,
        delivery_id,
        token,
        [DeliveryStatus.SENDING, DeliveryStatus.VERIFY],
        status=DeliveryStatus.SENT,
        reason="task created for the advisor",
        updated_at=now,
    )
    session.commit()  # the task and the "sent" mark land together, or neither does
    return "sent"
