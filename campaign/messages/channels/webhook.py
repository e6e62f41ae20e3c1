"""The webhook channel: a signed JSON POST to a school's own app or IM bridge.

Every request carries:

- ``X-Campaign-Timestamp``: Unix seconds when it was signed (real time, whatever the engine's
  clock says, so the receiver can check it against its own);
- ``X-Campaign-Signature: sha256=<hex>``: HMAC-SHA256 of ``"<timestamp>.<raw body>"`` with the
  shared secret;
- ``Idempotency-Key``: the same on every retry of one delivery (the receiver de-duplicates on it,
  which makes the channel idempotent).

Receivers check requests with :func:`verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

from campaign.journeys.spec import Channel
from campaign.messages.channels import _http
from campaign.messages.channels._settings import Settings
from campaign.messages.channels.base import OutgoingMessage, SendResult, TransientChannelError

SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE = 300.0  # seconds a receiver accepts between signing and checking


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: str | int, body: str | bytes) -> str:
    """Return the ``X-Campaign-Signature`` value for ``body`` signed at ``timestamp``."""
    signed = _bytes(str(timestamp)) + b"." + _bytes(body)
    return SIGNATURE_PREFIX + hmac.new(_bytes(secret), signed, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | int | None,
    body: str | bytes,
    signature: str | None,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> bool:
    """Tell whether a webhook request is authentic and fresh (for receivers).

    :param timestamp: the ``X-Campaign-Timestamp`` header.
    :param body: the raw request body, exactly as received (before any JSON parsing).
    :param signature: the ``X-Campaign-Signature`` header.
    :param tolerance: how many seconds the timestamp may be away from ``now`` (replays of an
        older request are refused; keep a list of seen ``Idempotency-Key`` values as well).
    :param now: the receiver's Unix time; defaults to the system clock.
    """
    if timestamp is None or signature is None:
        return False
    try:
        signed_at = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - signed_at) > tolerance:
        return False
    expected = sign(secret, str(timestamp).strip(), body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8"))


def webhook_payload(message: OutgoingMessage) -> dict[str, Any]:
    """Return the JSON document a webhook receives (ids, not addresses)."""
    recipient = message.recipient
    payload: dict[str, Any] = {
        "type": "message",
        "delivery_id": message.delivery_id,
        "idempotency_key": message.idempotency_key,
        "channel": str(message.channel),
        "journey": message.journey_key,
        "step": message.step_key,
        "selling": message.selling,
        "text": message.text,
        "recipient": {
            "learner_id": recipient.learner_id,
            "external_id": recipient.external_id,
            "timezone": recipient.timezone,
            "wecom_external_userid": recipient.wecom_external_userid,
            "advisor_wecom_userid": recipient.advisor_wecom_userid,
        },
    }
    if message.subject is not None:
        payload["subject"] = message.subject
    if message.unsubscribe_url is not None:
        payload["unsubscribe_url"] = message.unsubscribe_url
    if message.deadline is not None:
        payload["deadline"] = message.deadline.isoformat()
    return payload


class WebhookChannel:
    """POST each message, signed, to one URL."""

    channel: ClassVar[Channel] = Channel.WEBHOOK
    idempotent: ClassVar[bool] = True

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        timeout: float = 10.0,
        time_source: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("the webhook secret may not be empty")
        self.url = _http.check_url(url)
        self.secret = secret
        self.timeout = timeout
        self.time_source = time_source

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookChannel:
        """Build from ``CHANNELS["webhook"]``: ``url``, ``secret``, ``timeout``."""
        try:
            channel = cls(
                url=settings.required_text("url"),
                secret=settings.required_text("secret"),
                timeout=settings.number("timeout", 10.0),
            )
        except ValueError as exc:
            raise settings.invalid(str(exc)) from exc
        settings.check_all_read()
        return channel

    def send(self, message: OutgoingMessage) -> SendResult:
        body = json.dumps(
            webhook_payload(message), ensure_ascii=False, separators=(",", ":"), sort_keys=True
        ).encode("utf-8")
        timestamp = str(int(self.time_source()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Campaign-Timestamp": timestamp,
            "X-Campaign-Signature": sign(self.secret, timestamp, body),
            "Idempotency-Key": message.idempotency_key,
        }
        try:
            response = _http.request(
                "POST", self.url, body=body, headers=headers, timeout=self.timeout
            )
        except (_http.NotSent, _http.NoAnswer) as exc:
            # The receiver de-duplicates by Idempotency-Key, so an unanswered POST may be retried.
            raise TransientChannelError(f"webhook: {exc}") from exc
        _http.raise_for_status(response, "webhook")
        return SendResult(provider_id=_receipt(response), detail=f"HTTP {response.status}")


def _receipt(response: _http.HttpResponse) -> str | None:
    """Return the receiver's id for the message if its JSON reply gives one."""
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("id") is not None:
        return str(data["id"])
    return None
