"""The channel interface: one small class per way of reaching a learner.

The send worker hands an adapter an :class:`OutgoingMessage` and records what comes back. An
adapter raises :class:`TransientChannelError` for what may work on a retry (timeouts, rate
limits, 5xx) and :class:`PermanentChannelError` for what never will (a bad address, a refused
recipient); anything else is a bug and is treated as permanent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from campaign.journeys.spec import Channel


@dataclass(frozen=True)
class Recipient:
    """Who the message is for, with every address the adapters may need."""

    learner_id: int
    external_id: str
    name: str
    timezone: str
    email: str | None = None
    phone: str | None = None
    wecom_external_userid: str | None = None
    advisor_name: str | None = None
    advisor_wecom_userid: str | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered delivery, ready for a channel."""

    delivery_id: int
    idempotency_key: str  # stable across retries of the same delivery
    channel: Channel
    text: str
    recipient: Recipient
    journey_key: str
    step_key: str
    selling: bool = False
    subject: str | None = None
    unsubscribe_url: str | None = None
    deadline: datetime | None = None
    voice: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What the channel said: its own id for the message, if it gave one."""

    provider_id: str | None = None
    detail: str | None = None


class ChannelError(Exception):
    """A send that did not happen; ``reason`` is stored on the delivery."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientChannelError(ChannelError):
    """May work later: the worker retries with backoff (``retry_after`` seconds if known)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    """Will never work for this message: the delivery ends as failed with the reason."""


class UnknownOutcomeChannelError(ChannelError):
    """The far side may or may not have acted (a timeout after the request went out).

    Retrying could send twice on a channel without idempotency, so the delivery goes to the
    ``verify`` state for a human to check instead.
    """


class ChannelAdapter(Protocol):
    """What every adapter offers."""

    channel: ClassVar[Channel]
    # True when the far side de-duplicates by ``idempotency_key``: a send whose outcome is
    # unknown (worker died mid-call) may then be retried safely instead of asking a human.
    idempotent: ClassVar[bool]

    def send(self, message: OutgoingMessage) -> SendResult:
        """Deliver one message or raise a :class:`ChannelError`."""
        ...
