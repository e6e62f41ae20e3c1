"""Build the channel adapters from configuration, in one place.

The configuration key is ``CHANNELS``: a mapping from channel name to that channel's settings::

    CHANNELS = {
        "log": {"path": "instance/outbox.jsonl"},
        "email": {"host": "smtp.example.com", "port": 587, "starttls": True, ...},
        "sms": {"url": "https://sms.example.com/v1/messages", "api_key": "..."},
        "webhook": {"url": "https://school.example.com/campaign", "secret": "..."},
        "wecom": {"corp_id": "...", "corp_secret": "..."},
    }

From the environment, Flask's nested keys set the same thing:
``CAMPAIGN_CHANNELS__email__host=smtp.example.com`` (names are read case-insensitively).

- ``log`` is always present (logging to ``campaign.outbox`` when it has no settings).
- A channel set to ``None`` (or left out) is not configured; a channel set to ``"log"`` is sent
  through the log adapter instead (for demos: the journey's WeCom and SMS steps land in the
  outbox).
- ``advisor_task`` is the engine's own channel (it writes tasks to the database); its settings,
  if any, are read by the engine, not here.

A journey that needs a channel the registry lacks is caught by :func:`missing_channels` /
:func:`require_channels` before its cohort opens, not at the first send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from campaign.clock import Clock
from campaign.journeys.spec import Channel, JourneySpec
from campaign.messages.channels._settings import ChannelConfigError, Settings
from campaign.messages.channels.base import ChannelAdapter
from campaign.messages.channels.email import EmailChannel
from campaign.messages.channels.log import LogChannel
from campaign.messages.channels.sms import SmsChannel
from campaign.messages.channels.webhook import WebhookChannel
from campaign.messages.channels.wecom import WeComChannel

__all__ = [
    "ADAPTERS",
    "CONFIG_KEY",
    "ENGINE_CHANNELS",
    "ChannelConfigError",
    "ChannelNotConfigured",
    "build_channels",
    "journey_channels",
    "missing_channels",
    "require_channels",
]

CONFIG_KEY = "CHANNELS"
LOG_ALIAS = "log"

ENGINE_CHANNELS: frozenset[Channel] = frozenset({Channel.ADVISOR_TASK})
"""Channels the engine implements itself; they are never built from ``CHANNELS``."""

AdapterFactory = Callable[[Settings, Clock | None], ChannelAdapter]

ADAPTERS: Mapping[Channel, AdapterFactory] = {
    Channel.LOG: LogChannel.from_settings,
    Channel.EMAIL: lambda settings, clock: EmailChannel.from_settings(settings),
    Channel.SMS: SmsChannel.from_settings,
    Channel.WEBHOOK: lambda settings, clock: WebhookChannel.from_settings(settings),
    Channel.WECOM: WeComChannel.from_settings,
}
"""Every adapter this package builds, by channel: the one list to extend with a new channel."""


class ChannelNotConfigured(ChannelConfigError):
    """A journey needs channels the configuration does not provide."""

    def __init__(self, channels: Iterable[Channel]) -> None:
        self.channels = tuple(channels)
        names = ", ".join(str(channel) for channel in self.channels)
        super().__init__(
            f"channel(s) not configured: {names}; add them under {CONFIG_KEY} in the config "
            f"(see docs/channels.md), or route them to the log with "
            f'{CONFIG_KEY}["<channel>"] = "log"'
        )


def _channel(name: Any) -> Channel:
    try:
        return Channel(str(name).strip().lower())
    except ValueError:
        known = ", ".join(str(channel) for channel in Channel)
        raise ChannelConfigError(
            f"{CONFIG_KEY}: unknown channel {name!r} (known: {known})"
        ) from None


def build_channels(
    config: Mapping[str, Any], *, clock: Clock | None = None
) -> dict[Channel, ChannelAdapter]:
    """Build one adapter per configured channel from ``config[CHANNELS]``.

    :param config: the app config (or any mapping with a ``CHANNELS`` key).
    :param clock: the engine's clock (SMS hours and the WeCom welcome window are read on it).
    :raises ChannelConfigError: an unknown channel or setting, a missing or bad value.
    """
    raw = config.get(CONFIG_KEY) or {}
    if not isinstance(raw, Mapping):
        raise ChannelConfigError(f"{CONFIG_KEY} must be a mapping of channel name to settings")
    entries: dict[Channel, Any] = {}
    for name, value in raw.items():
        channel = _channel(name)
        if channel in entries:
            raise ChannelConfigError(f"{CONFIG_KEY}: {channel} is configured twice")
        entries[channel] = value

    log_settings = entries.get(Channel.LOG)
    if log_settings is not None and not isinstance(log_settings, Mapping):
        raise ChannelConfigError(f"{CONFIG_KEY}[log] must be a mapping of settings")
    log = LogChannel.from_settings(Settings(str(Channel.LOG), log_settings or {}), clock)
    registry: dict[Channel, ChannelAdapter] = {Channel.LOG: log}

    for channel, value in entries.items():
        if channel is Channel.LOG or channel in ENGINE_CHANNELS or value is None:
            continue
        if isinstance(value, str) and value.strip().lower() == LOG_ALIAS:
            registry[channel] = log
            continue
        if not isinstance(value, Mapping):
            raise ChannelConfigError(
                f"{CONFIG_KEY}[{channel}] must be a mapping of settings, None, or {LOG_ALIAS!r}"
            )
        registry[channel] = ADAPTERS[channel](Settings(str(channel), value), clock)
    return registry


def journey_channels(spec: JourneySpec) -> frozenset[Channel]:
    """Return the channels a journey's steps use."""
    return frozenset(step.channel for step in spec.steps)


def missing_channels(
    spec_channels: Iterable[Channel],
    registry: Mapping[Channel, object],
    *,
    engine_channels: Iterable[Channel] = ENGINE_CHANNELS,
) -> list[Channel]:
    """Return the channels needed but not in ``registry``, in a stable order.

    The engine's own channels (``advisor_task``) count as present.
    """
    provided = set(registry) | set(engine_channels)
    needed = set(spec_channels)
    return [channel for channel in Channel if channel in needed and channel not in provided]


def require_channels(
    spec_channels: Iterable[Channel],
    registry: Mapping[Channel, object],
    *,
    engine_channels: Iterable[Channel] = ENGINE_CHANNELS,
) -> None:
    """Raise :class:`ChannelNotConfigured` when a needed channel is missing."""
    missing = missing_channels(spec_channels, registry, engine_channels=engine_channels)
    if missing:
        raise ChannelNotConfigured(missing)
