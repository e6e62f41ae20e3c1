"""Adapters are built from one ``CHANNELS`` mapping; a journey's missing channels are named."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Config

from campaign.clock import FrozenClock
from campaign.journeys.loader import load_journey
from campaign.journeys.spec import Channel
from campaign.messages.channels.email import EmailChannel
from campaign.messages.channels.log import LogChannel
from campaign.messages.channels.registry import (
    ADAPTERS,
    ChannelConfigError,
    ChannelNotConfigured,
    build_channels,
    journey_channels,
    missing_channels,
    require_channels,
)
from campaign.messages.channels.sms import SmsChannel
from campaign.messages.channels.webhook import WebhookChannel
from campaign.messages.channels.wecom import WeComChannel

from ...conftest import SAMPLE_JOURNEY
from .conftest import make_message

FULL: dict[str, Any] = {
    "log": {"path": "outbox.jsonl", "logger": False},
    "email": {"host": "smtp.example.com", "from_address": "camp@school.example.com"},
    "sms": {"url": "https://sms.example.com/v1/messages", "api_key": "k"},
    "webhook": {"url": "https://school.example.com/hook", "secret": "s"},
    "wecom": {"corp_id": "ww1", "corp_secret": "s"},
}


def test_the_log_channel_is_always_there() -> None:
    registry = build_channels({})
    assert list(registry) == [Channel.LOG]
    log = registry[Channel.LOG]
    assert isinstance(log, LogChannel) and log.path is None
    assert log.logger is logging.getLogger("campaign.outbox")


def test_builds_every_configured_adapter() -> None:
    clock = FrozenClock(datetime(2026, 12, 8, 4, 0, tzinfo=UTC))
    registry = build_channels({"CHANNELS": FULL}, clock=clock)
    assert set(registry) == {
        Channel.LOG,
        Channel.EMAIL,
        Channel.SMS,
        Channel.WEBHOOK,
        Channel.WECOM,
    }
    assert isinstance(registry[Channel.EMAIL], EmailChannel)
    assert isinstance(registry[Channel.SMS], SmsChannel)
    assert isinstance(registry[Channel.WEBHOOK], WebhookChannel)
    assert isinstance(registry[Channel.WECOM], WeComChannel)
    sms = registry[Channel.SMS]
    assert isinstance(sms, SmsChannel) and sms.clock is clock
    for channel, adapter in registry.items():
        assert adapter.channel is channel
    assert set(ADAPTERS) == set(Channel) - {Channel.ADVISOR_TASK}


def test_channels_can_be_routed_to_the_log_or_left_out(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    registry = build_channels(
        {
            "CHANNELS": {
                "LOG": {"path": str(outbox)},
                "WeCom": "log",
                "sms": "LOG",
                "email": None,
                "advisor_task": {"deadline": "2h"},  # the engine's own settings
            }
        }
    )
    assert set(registry) == {Channel.LOG, Channel.WECOM, Channel.SMS}
    assert registry[Channel.WECOM] is registry[Channel.LOG] is registry[Channel.SMS]
    registry[Channel.WECOM].send(make_message(Channel.WECOM))
    assert '"channel": "wecom"' in outbox.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ({"telegram": {}}, "unknown channel 'telegram' \\(known: advisor_task, wecom"),
        ({"email": "smtp://x"}, "CHANNELS\\[email\\] must be a mapping"),
        ({"log": "yes"}, "CHANNELS\\[log\\] must be a mapping"),
        ({"email": {}, "EMAIL": {}}, "email is configured twice"),
        ({"sms": {"url": "https://x.example.com", "tiemout": 3}}, "sms: unknown setting"),
        ({"webhook": {"url": "https://x.example.com"}}, "webhook.secret: is required"),
        (
            {"webhook": {"url": "https://x", "URL": "https://y", "secret": "s"}},
            "url is given twice",
        ),
        ({"log": {1: "x"}}, "setting names are text"),
        ("email", "CHANNELS must be a mapping"),
    ],
)
def test_configuration_errors_say_what_is_wrong(channels: Any, message: str) -> None:
    with pytest.raises(ChannelConfigError, match=message):
        build_channels({"CHANNELS": channels})


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``CAMPAIGN_CHANNELS__EMAIL__PORT=587`` works as the app reads it (from_prefixed_env)."""
    for name, value in {
        "CAMPAIGN_CHANNELS__EMAIL__HOST": "smtp.example.com",
        "CAMPAIGN_CHANNELS__EMAIL__PORT": "465",
        "CAMPAIGN_CHANNELS__EMAIL__SSL": "true",
        "CAMPAIGN_CHANNELS__EMAIL__FROM_ADDRESS": "camp@school.example.com",
        "CAMPAIGN_CHANNELS__EMAIL__PASSWORD": "123456",
        "CAMPAIGN_CHANNELS__EMAIL__USERNAME": "camp",
        "CAMPAIGN_CHANNELS__wecom": '"log"',
    }.items():
        monkeypatch.setenv(name, value)
    config = Config(str(tmp_path))
    config.from_prefixed_env("CAMPAIGN")
    registry = build_channels(config)
    email = registry[Channel.EMAIL]
    assert isinstance(email, EmailChannel)
    assert (email.host, email.port, email.use_ssl, email.password) == (
        "smtp.example.com",
        465,
        True,
        "123456",
    )
    assert registry[Channel.WECOM] is registry[Channel.LOG]


def test_missing_channels_of_a_journey() -> None:
    spec = load_journey(SAMPLE_JOURNEY).spec
    assert spec is not None
    needed = journey_channels(spec)
    assert Channel.ADVISOR_TASK in needed
    registry = build_channels({})
    missing = missing_channels(needed, registry)
    assert Channel.ADVISOR_TASK not in missing  # the engine provides it
    assert missing == [c for c in Channel if c in needed - {Channel.ADVISOR_TASK, Channel.LOG}]
    assert missing_channels([Channel.SMS, Channel.LOG, Channel.SMS], registry) == [Channel.SMS]
    assert missing_channels([Channel.ADVISOR_TASK], registry, engine_channels=()) == [
        Channel.ADVISOR_TASK
    ]


def test_require_channels_names_what_to_configure() -> None:
    registry = build_channels({"CHANNELS": {"sms": "log"}})
    require_channels([Channel.SMS, Channel.ADVISOR_TASK], registry)
    with pytest.raises(ChannelNotConfigured) as caught:
        require_channels([Channel.WEBHOOK, Channel.WECOM, Channel.SMS], registry)
    assert caught.value.channels == (Channel.WECOM, Channel.WEBHOOK)
    assert "channel(s) not configured: wecom, webhook" in str(caught.value)
    assert "CHANNELS" in str(caught.value) and "docs/channels.md" in str(caught.value)
