"""What the admin's channel page shows, and its "send test" button.

Settings are read from the app config (``CHANNELS``, see
:mod:`campaign.messages.channels.registry`) and shown with every secret masked: passwords, API
keys, secrets and tokens, and the password or secret query values inside URLs. A test send
goes through the very adapter the workers use, to an address the admin types.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from campaign.clock import Clock
from campaign.journeys.spec import Channel
from campaign.messages.channels.base import ChannelError, OutgoingMessage, Recipient
from campaign.messages.channels.registry import (
    CONFIG_KEY,
    ENGINE_CHANNELS,
    LOG_ALIAS,
    ChannelConfigError,
    build_channels,
)

MASK = "••••••"
SECRET_WORDS = ("password", "passwd", "secret", "token", "key", "signature", "credential")
MAX_RECIPIENT = 320
TEST_TEXT = "Campaign 测试消息 / test message: {who} sent this from the console to check {channel}."


def is_secret(name: str) -> bool:
    """Tell whether a setting (or URL query parameter) named ``name`` holds a secret."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def mask_url(value: str) -> str:
    """Hide a URL's password and its secret-looking query values; leave anything else alone."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or not parts.netloc:
        return value
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    pieces = []
    for piece in parts.query.split("&") if parts.query else ():
        key, equals, _ = piece.partition("=")
        pieces.append(f"{key}={MASK}" if equals and is_secret(unquote_plus(key)) else piece)
    query = "&".join(pieces)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def shown_value(name: str, value: Any) -> str:
    """Return how a setting is shown: secrets masked (empty ones said to be empty)."""
    if is_secret(name):
        return MASK if value not in (None, "") else "(empty)"
    text = str(value)
    return mask_url(text) if "://" in text else text


@dataclass
class ChannelInfo:
    """One channel as the admin sees it."""

    channel: Channel
    state: str  # configured, routed_to_log, engine, not_configured
    settings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def testable(self) -> bool:
        return self.state in ("configured", "routed_to_log")


def _entries(config: Mapping[str, Any]) -> dict[Channel, Any]:
    raw = config.get(CONFIG_KEY) or {}
    entries: dict[Channel, Any] = {}
    if not isinstance(raw, Mapping):
        return entries
    for name, value in raw.items():
        try:
            entries[Channel(str(name).strip().lower())] = value
        except ValueError:
            continue  # build_channels reports it
    return entries


def describe_channels(config: Mapping[str, Any]) -> tuple[list[ChannelInfo], str | None]:
    """Return every channel with its state and masked settings, and the configuration error
    (``None`` when the adapters build)."""
    try:
        build_channels(config)
        problem = None
    except ChannelConfigError as exc:
        problem = str(exc)
    entries = _entries(config)
    infos = []
    for channel in Channel:
        value = entries.get(channel)
        if channel in ENGINE_CHANNELS:
            infos.append(ChannelInfo(channel, "engine"))
        elif isinstance(value, str) and value.strip().lower() == LOG_ALIAS:
            infos.append(ChannelInfo(channel, "routed_to_log"))
        elif isinstance(value, Mapping) or channel is Channel.LOG:
            settings = sorted(
                (str(key), shown_value(str(key), item))
                for key, item in (value.items() if isinstance(value, Mapping) else ())
            )
            infos.append(ChannelInfo(channel, "configured", settings))
        else:
            infos.append(ChannelInfo(channel, "not_configured"))
    return infos, problem


@dataclass(frozen=True)
class SendTestResult:
    """What a test send did: ``ok`` and the channel's answer or the error."""

    ok: bool
    detail: str


def send_test(
    config: Mapping[str, Any],
    name: str,
    recipient: str,
    *,
    sender: str = "",
    who: str = "admin",
    timezone: str = "Asia/Shanghai",
    clock: Clock | None = None,
) -> SendTestResult:
    """Send one test message on channel ``name`` to ``recipient`` through its real adapter.

    ``recipient`` is the address the channel uses: an e-mail address, a phone number, a WeCom
    external userid (with ``sender``, the advisor's WeCom userid), or an id for the log and
    the webhook. Never raises: a configuration or channel error comes back as the result.
    """
    try:
        channel = Channel(name)
    except ValueError:
        return SendTestResult(False, f"unknown channel '{name}'")
    if channel in ENGINE_CHANNELS:
        return SendTestResult(False, f"{channel} is the engine's own channel: it creates tasks")
    recipient = recipient.strip()
    if not recipient or len(recipient) > MAX_RECIPIENT:
        return SendTestResult(False, "type the address to send the test to")
    try:
        adapter = build_channels(config, clock=clock).get(channel)
    except ChannelConfigError as exc:
        return SendTestResult(False, f"the channel configuration is wrong: {exc}")
    if adapter is None:
        return SendTestResult(False, f"{channel} is not configured")
    message = OutgoingMessage(
        delivery_id=0,
        idempotency_key=f"campaign-test-{uuid.uuid4().hex}",
        channel=channel,
        text=TEST_TEXT.format(who=who, channel=channel),
        recipient=Recipient(
            learner_id=0,
            external_id=recipient,
            name=recipient,
            timezone=timezone,
            email=recipient if "@" in recipient else None,
            phone=recipient if "@" not in recipient else None,
            wecom_external_userid=recipient,
            advisor_name=who,
            advisor_wecom_userid=sender.strip() or None,
        ),
        journey_key="console",
        step_key="send-test",
        subject="Campaign test message",
        metadata={"test": True},
    )
    try:
        result = adapter.send(message)
    except ChannelError as exc:
        return SendTestResult(False, exc.reason)
    except Exception as exc:  # an adapter bug must not break the page; show it instead
        return SendTestResult(False, f"{type(exc).__name__}: {exc}")
    parts = [part for part in (result.detail, result.provider_id) if part]
    return SendTestResult(True, " · ".join(parts) or "sent")
