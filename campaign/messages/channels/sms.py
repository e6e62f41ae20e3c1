"""The SMS channel: a JSON POST to an HTTP SMS gateway.

The request is ``POST <url>`` with the API key in a header and the body
``{"to", "text", "idempotency_key"}`` (plus ``sender`` and ``sign`` when configured). The gateway
de-duplicates by ``idempotency_key``, which makes the channel idempotent: a send whose outcome is
unknown may be retried with the same key.

Marketing (selling) messages carry the opt-out text (default ``拒收请回复R``) and go out only
between 08:00 and 21:00 on the recipient's clock. The governor already defers them out of those
hours; the adapter refuses one that slips through anyway.
"""

from __future__ import annotations

import json
from typing import ClassVar

from campaign.clock import Clock, SystemClock
from campaign.journeys.calendar import zone
from campaign.journeys.spec import Channel
from campaign.messages.channels import _http
from campaign.messages.channels._settings import Settings
from campaign.messages.channels.base import (
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)
from campaign.messages.governor import SMS_WINDOW

DEFAULT_OPT_OUT = "拒收请回复R"
DEFAULT_API_KEY_HEADER = "X-Api-Key"


def with_opt_out(text: str, opt_out: str) -> str:
    """Return ``text`` ending with the opt-out text (unchanged if it already carries it)."""
    if opt_out in text:
        return text
    return f"{text.rstrip()} {opt_out}"


class SmsChannel:
    """Send text messages through an HTTP SMS gateway."""

    channel: ClassVar[Channel] = Channel.SMS
    idempotent: ClassVar[bool] = True

    def __init__(
        self,
        *,
        url: str,
        api_key: str | None = None,
        api_key_header: str = DEFAULT_API_KEY_HEADER,
        sender: str | None = None,
        sign: str | None = None,
        opt_out_text: str = DEFAULT_OPT_OUT,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.url = _http.check_url(url)
        self.api_key = api_key
        self.api_key_header = api_key_header
        self.sender = sender
        self.sign = sign
        self.opt_out_text = opt_out_text
        self.timeout = timeout
        self.clock = clock or SystemClock()

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> SmsChannel:
        """Build from ``CHANNELS["sms"]``; see docs/channels.md for every key."""
        try:
            channel = cls(
                url=settings.required_text("url"),
                api_key=settings.optional_text("api_key"),
                api_key_header=settings.text("api_key_header", DEFAULT_API_KEY_HEADER),
                sender=settings.optional_text("sender"),
                sign=settings.optional_text("sign"),
                opt_out_text=settings.text("opt_out_text", DEFAULT_OPT_OUT),
                timeout=settings.number("timeout", 10.0),
                clock=clock,
            )
        except ValueError as exc:
            raise settings.invalid(str(exc)) from exc
        settings.check_all_read()
        return channel

    def check_hours(self, message: OutgoingMessage) -> None:
        """Refuse a marketing message outside 08:00–21:00 on the recipient's clock."""
        try:
            tz = zone(message.recipient.timezone)
        except KeyError:
            raise PermanentChannelError(
                f"unknown timezone {message.recipient.timezone!r} for this learner"
            ) from None
        local = self.clock.now().astimezone(tz)
        if SMS_WINDOW.contains(local.hour * 60 + local.minute):
            raise PermanentChannelError(
                f"marketing SMS outside 08:00-21:00 recipient time (it is {local:%H:%M} there)"
            )

    def payload(self, message: OutgoingMessage) -> dict[str, str]:
        """Return the JSON body for ``message``."""
        text = message.text
        if message.selling:
            text = with_opt_out(text, self.opt_out_text)
        body = {
            "to": message.recipient.phone or "",
            "text": text,
            "idempotency_key": message.idempotency_key,
        }
        if self.sender:
            body["sender"] = self.sender
        if self.sign:
            body["sign"] = self.sign
        return body

    def send(self, message: OutgoingMessage) -> SendResult:
        if not message.recipient.phone:
            raise PermanentChannelError("no phone number for this learner")
        if message.selling:
            self.check_hours(message)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.idempotency_key,
        }
        if self.api_key:
            headers[self.api_key_header] = self.api_key
        body = json.dumps(self.payload(message), ensure_ascii=False).encode("utf-8")
        try:
            response = _http.request(
                "POST", self.url, body=body, headers=headers, timeout=self.timeout
            )
        except (_http.NotSent, _http.NoAnswer) as exc:
            # The gateway de-duplicates by key, so even an unanswered request may be retried.
            raise TransientChannelError(f"SMS gateway: {exc}") from exc
        _http.raise_for_status(response, "SMS gateway")
        return SendResult(provider_id=_message_id(response), detail="accepted by the SMS gateway")


def _message_id(response: _http.HttpResponse) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("id", "message_id", "msgid"):
            if data.get(key) is not None:
                return str(data[key])
    return None
