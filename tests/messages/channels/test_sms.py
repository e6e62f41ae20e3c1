"""The SMS channel against a local HTTP SMS gateway that de-duplicates by idempotency key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from campaign.clock import FrozenClock
from campaign.journeys.spec import Channel
from campaign.messages.channels._settings import ChannelConfigError, Settings
from campaign.messages.channels.base import PermanentChannelError, TransientChannelError
from campaign.messages.channels.sms import SmsChannel, with_opt_out

from .conftest import Handler, LocalServer, ServeFactory, make_message

API_KEY = "k3y"
SHANGHAI_NOON = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)


def shanghai(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 8, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


class Gateway(Handler):
    """POST /v1/messages {to, text, idempotency_key, sender?, sign?} -> {"id": ...}."""

    def do_POST(self) -> None:
        request = self.read_request()
        scripted = self.next_scripted()
        if scripted == "stall":
            self.stall()
            return
        if scripted is not None:
            self.reply(*scripted)
            return
        if self.path != "/v1/messages":
            self.reply(404, {"error": "no such endpoint"})
            return
        if request.headers.get("x-api-key") != API_KEY:
            self.reply(401, {"error": "bad api key"})
            return
        body = request.json()
        if not all(body.get(k) for k in ("to", "text", "idempotency_key")):
            self.reply(400, {"error": "to, text and idempotency_key are required"})
            return
        with self.server.lock:
            sent: dict[str, Any] = self.server.state.setdefault("sent", {})
            first = body["idempotency_key"] not in sent
            if first:
                sent[body["idempotency_key"]] = {"id": f"sms-{1000 + len(sent)}", **body}
            stored = sent[body["idempotency_key"]]
        self.reply(200 if not first else 201, {"id": stored["id"], "duplicate": not first})


def sms(server: LocalServer, now: datetime = SHANGHAI_NOON, **overrides: Any) -> SmsChannel:
    settings: dict[str, Any] = dict(
        url=f"{server.url}/v1/messages",
        api_key=API_KEY,
        sender="106900001234",
        sign="奶茶编程",
        timeout=2.0,
        clock=FrozenClock(now),
    )
    settings.update(overrides)
    return SmsChannel(**settings)


def test_posts_json_to_the_gateway(serve: ServeFactory) -> None:
    server = serve(Gateway)
    result = sms(server).send(make_message(Channel.SMS))
    [request] = server.requests
    assert request.method == "POST" and request.path == "/v1/messages"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["idempotency-key"] == "d42-a1"
    assert request.json() == {
        "to": "+8613800138000",
        "text": make_message().text,
        "idempotency_key": "d42-a1",
        "sender": "106900001234",
        "sign": "奶茶编程",
    }
    assert result.provider_id == server.state["sent"]["d42-a1"]["id"]


def test_a_retry_with_the_same_key_is_sent_once(serve: ServeFactory) -> None:
    server = serve(Gateway)
    channel = sms(server)
    first = channel.send(make_message(Channel.SMS))
    second = channel.send(make_message(Channel.SMS))
    assert SmsChannel.idempotent
    assert first.provider_id == second.provider_id
    assert len(server.requests) == 2 and len(server.state["sent"]) == 1


def test_marketing_gets_the_opt_out_text_once(serve: ServeFactory) -> None:
    server = serve(Gateway)
    channel = sms(server)
    channel.send(make_message(Channel.SMS, selling=True, text="Python 正价课今晚截止。"))
    channel.send(
        make_message(Channel.SMS, selling=True, idempotency_key="k2", text="报名回1，拒收请回复R")
    )
    channel.send(make_message(Channel.SMS, idempotency_key="k3", text="今晚 19:30 直播"))
    texts = [r.json()["text"] for r in server.requests]
    assert texts == [
        "Python 正价课今晚截止。 拒收请回复R",
        "报名回1，拒收请回复R",
        "今晚 19:30 直播",
    ]
    assert with_opt_out("hi ", "退订回T") == "hi 退订回T"


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (shanghai(7, 59), False),
        (shanghai(8, 0), True),
        (shanghai(20, 59), True),
        (shanghai(21, 0), False),
        (shanghai(23, 30), False),
    ],
)
def test_marketing_only_between_8_and_21_recipient_time(
    serve: ServeFactory, now: datetime, allowed: bool
) -> None:
    server = serve(Gateway)
    channel = sms(server, now=now)
    if allowed:
        channel.send(make_message(Channel.SMS, selling=True))
        assert len(server.requests) == 1
    else:
        with pytest.raises(PermanentChannelError, match=r"outside 08:00-21:00"):
            channel.send(make_message(Channel.SMS, selling=True))
        assert server.requests == []


def test_hours_are_read_on_the_recipient_clock(serve: ServeFactory) -> None:
    server = serve(Gateway)
    channel = sms(server, now=shanghai(23, 0))  # 10:00 in New York
    channel.send(make_message(Channel.SMS, selling=True, recipient_timezone="America/New_York"))
    assert len(server.requests) == 1
    with pytest.raises(PermanentChannelError, match=r"unknown timezone"):
        channel.send(make_message(Channel.SMS, selling=True, recipient_timezone="Mars/Base"))


def test_service_messages_ignore_the_hours(serve: ServeFactory) -> None:
    server = serve(Gateway)
    sms(server, now=shanghai(22, 0)).send(make_message(Channel.SMS))
    assert len(server.requests) == 1


def test_no_phone_is_permanent(serve: ServeFactory) -> None:
    server = serve(Gateway)
    with pytest.raises(PermanentChannelError, match=r"no phone number"):
        sms(server).send(make_message(Channel.SMS, recipient_phone=None))
    assert server.requests == []


@pytest.mark.parametrize(
    ("answer", "error", "retry_after"),
    [
        ((429, {"error": "slow down"}, {"Retry-After": "7"}), TransientChannelError, 7.0),
        ((503, {"error": "maintenance"}), TransientChannelError, None),
        ((500, None, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), TransientChannelError, 0),
        ((400, {"error": "bad number"}), PermanentChannelError, None),
        ((403, {"error": "sign not approved"}), PermanentChannelError, None),
    ],
)
def test_gateway_errors(
    serve: ServeFactory, answer: Any, error: type[Exception], retry_after: float | None
) -> None:
    server = serve(Gateway)
    server.script.append(answer)
    with pytest.raises(error, match=f"SMS gateway: HTTP {answer[0]}") as caught:
        sms(server).send(make_message(Channel.SMS))
    if isinstance(caught.value, TransientChannelError):
        assert caught.value.retry_after == retry_after
    if answer[1] is not None:
        assert answer[1]["error"] in str(caught.value)


def test_a_wrong_api_key_is_permanent(serve: ServeFactory) -> None:
    server = serve(Gateway)
    with pytest.raises(PermanentChannelError, match=r"HTTP 401.*bad api key"):
        sms(server, api_key="wrong").send(make_message(Channel.SMS))


def test_a_timeout_is_transient_and_the_retry_is_not_a_duplicate(serve: ServeFactory) -> None:
    server = serve(Gateway)
    server.script.append("stall")
    channel = sms(server, timeout=0.2)
    with pytest.raises(TransientChannelError, match=r"timed out"):
        channel.send(make_message(Channel.SMS))
    channel.send(make_message(Channel.SMS))
    channel.send(make_message(Channel.SMS))
    assert len(server.state["sent"]) == 1


def test_an_unreachable_gateway_is_transient(closed_port: int) -> None:
    channel = SmsChannel(url=f"http://127.0.0.1:{closed_port}/v1/messages", timeout=1.0)
    with pytest.raises(TransientChannelError, match=r"cannot connect"):
        channel.send(make_message(Channel.SMS))


def test_settings() -> None:
    channel = SmsChannel.from_settings(
        Settings("sms", {"url": "https://sms.example.com/v1/messages", "API_KEY": "k"})
    )
    assert channel.opt_out_text == "拒收请回复R" and channel.api_key_header == "X-Api-Key"
    with pytest.raises(ChannelConfigError, match=r"sms.url: is required"):
        SmsChannel.from_settings(Settings("sms", {}))
    with pytest.raises(ChannelConfigError, match=r"not an http"):
        SmsChannel.from_settings(Settings("sms", {"url": "ftp://x"}))
    with pytest.raises(ChannelConfigError, match=r"sms.timeout: must be more than 0"):
        SmsChannel.from_settings(Settings("sms", {"url": "http://x", "timeout": 0}))
