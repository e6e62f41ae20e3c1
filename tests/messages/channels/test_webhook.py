"""The webhook channel against a local receiver that checks the signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from campaign.journeys.spec import Channel
from campaign.messages.channels._settings import ChannelConfigError, Settings
from campaign.messages.channels.base import PermanentChannelError, TransientChannelError
from campaign.messages.channels.webhook import WebhookChannel, sign, verify_signature

from .conftest import Handler, LocalServer, ServeFactory, make_message

SECRET = "whsec_学校-共享密钥"


class Receiver(Handler):
    """A school's endpoint: checks the HMAC on its own, then de-duplicates by Idempotency-Key."""

    def do_POST(self) -> None:
        request = self.read_request()
        scripted = self.next_scripted()
        if scripted == "stall":
            self.stall()
            return
        if scripted is not None:
            self.reply(*scripted)
            return
        timestamp = request.headers.get("x-campaign-timestamp", "")
        expected = hmac.new(
            SECRET.encode("utf-8"), timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        given = request.headers.get("x-campaign-signature", "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300
        if not (fresh and hmac.compare_digest(f"sha256={expected}", given)):
            self.reply(401, {"error": "bad signature"})
            return
        with self.server.lock:
            seen: dict[str, str] = self.server.state.setdefault("seen", {})
            key = request.headers["idempotency-key"]
            seen.setdefault(key, f"r{len(seen) + 1}")
            receipt = seen[key]
        self.reply(200, {"id": receipt})


def webhook(server: LocalServer, **overrides: Any) -> WebhookChannel:
    settings: dict[str, Any] = dict(url=f"{server.url}/campaign/hook", secret=SECRET, timeout=2.0)
    settings.update(overrides)
    return WebhookChannel(**settings)


def test_posts_a_signed_json_document(serve: ServeFactory) -> None:
    server = serve(Receiver)
    deadline = datetime(2026, 12, 9, 15, 59, tzinfo=UTC)
    result = webhook(server).send(
        make_message(
            Channel.WEBHOOK,
            subject="优惠",
            selling=True,
            unsubscribe_url="https://s.example.com/u/1",
            deadline=deadline,
        )
    )
    assert result.provider_id == "r1" and result.detail == "HTTP 200"
    [request] = server.requests
    assert request.path == "/campaign/hook"
    assert request.headers["idempotency-key"] == "d42-a1"
    assert request.headers["x-campaign-signature"].startswith("sha256=")
    assert request.json() == {
        "type": "message",
        "delivery_id": 42,
        "idempotency_key": "d42-a1",
        "channel": "webhook",
        "journey": "python-camp",
        "step": "homework-reminder",
        "selling": True,
        "text": make_message().text,
        "subject": "优惠",
        "unsubscribe_url": "https://s.example.com/u/1",
        "deadline": deadline.isoformat(),
        "recipient": {
            "learner_id": 7,
            "external_id": "L-0007",
            "timezone": "Asia/Shanghai",
            "wecom_external_userid": "wmEXTERNAL0007",
            "advisor_wecom_userid": "li.laoshi",
        },
    }
    assert b"xiaoming@example.com" not in request.body and b"138001" not in request.body
    assert verify_signature(
        SECRET,
        request.headers["x-campaign-timestamp"],
        request.body,
        request.headers["x-campaign-signature"],
    )


def test_retries_carry_the_same_idempotency_key(serve: ServeFactory) -> None:
    server = serve(Receiver)
    channel = webhook(server)
    assert WebhookChannel.idempotent
    assert channel.send(make_message(Channel.WEBHOOK)).provider_id == "r1"
    assert channel.send(make_message(Channel.WEBHOOK)).provider_id == "r1"
    assert len(server.state["seen"]) == 1


def test_a_wrong_secret_is_refused_by_the_receiver(serve: ServeFactory) -> None:
    server = serve(Receiver)
    with pytest.raises(PermanentChannelError, match=r"HTTP 401.*bad signature"):
        webhook(server, secret="other").send(make_message(Channel.WEBHOOK))


def test_a_stale_timestamp_is_refused_by_the_receiver(serve: ServeFactory) -> None:
    server = serve(Receiver)
    channel = webhook(server, time_source=lambda: time.time() - 3600)
    with pytest.raises(PermanentChannelError, match=r"HTTP 401"):
        channel.send(make_message(Channel.WEBHOOK))


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((429, None, {"Retry-After": "30"}), TransientChannelError),
        ((502, {"error": "bad gateway"}), TransientChannelError),
        ((408, None), TransientChannelError),
        ((404, {"error": "no hook here"}), PermanentChannelError),
        ((422, {"error": "unknown learner"}), PermanentChannelError),
        ((301, None, {"Location": "https://elsewhere.example.com/"}), PermanentChannelError),
    ],
)
def test_status_codes(serve: ServeFactory, answer: Any, error: type[Exception]) -> None:
    server = serve(Receiver)
    server.script.append(answer)
    with pytest.raises(error, match=f"webhook: HTTP {answer[0]}") as caught:
        webhook(server).send(make_message(Channel.WEBHOOK))
    if answer[0] == 429:
        assert isinstance(caught.value, TransientChannelError)
        assert caught.value.retry_after == 30.0


def test_a_timeout_is_transient(serve: ServeFactory) -> None:
    server = serve(Receiver)
    server.script.append("stall")
    with pytest.raises(TransientChannelError, match=r"timed out"):
        webhook(server, timeout=0.2).send(make_message(Channel.WEBHOOK))


def test_an_unreachable_receiver_is_transient(closed_port: int) -> None:
    channel = WebhookChannel(url=f"http://127.0.0.1:{closed_port}/", secret="s")
    with pytest.raises(TransientChannelError, match=r"cannot connect"):
        channel.send(make_message(Channel.WEBHOOK))


# --- verify_signature, for receivers -----------------------------------------------------------


BODY = json.dumps({"a": "中文"}, ensure_ascii=False).encode("utf-8")


def test_verify_signature_accepts_the_real_thing() -> None:
    signature = sign(SECRET, 1_800_000_000, BODY)
    assert (
        signature
        == "sha256=" + hmac.new(SECRET.encode(), b"1800000000." + BODY, hashlib.sha256).hexdigest()
    )
    assert verify_signature(SECRET, "1800000000", BODY, signature, now=1_800_000_100)
    assert verify_signature(SECRET.encode(), 1_800_000_000, BODY.decode(), signature, now=1.8e9)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "signature_of", "now"),
    [
        ("other", "1800000000", BODY, BODY, 1.8e9),  # wrong secret
        (SECRET, "1800000000", BODY + b" ", BODY, 1.8e9),  # body changed
        (SECRET, "1800000001", BODY, BODY, 1.8e9),  # timestamp changed
        (SECRET, "1800000000", BODY, BODY, 1.8e9 + 301),  # replayed too late
        (SECRET, "1800000000", BODY, BODY, 1.8e9 - 301),  # from the future
        (SECRET, "soon", BODY, BODY, 1.8e9),  # not a timestamp
        (SECRET, None, BODY, BODY, 1.8e9),  # header missing
    ],
)
def test_verify_signature_refuses(
    secret: str, timestamp: str | None, body: bytes, signature_of: bytes, now: float
) -> None:
    signature = sign(SECRET, 1_800_000_000, signature_of)
    assert not verify_signature(secret, timestamp, body, signature, 300, now=now)


def test_verify_signature_refuses_a_missing_or_bare_signature() -> None:
    digest = sign(SECRET, 1_800_000_000, BODY).removeprefix("sha256=")
    assert not verify_signature(SECRET, "1800000000", BODY, None, now=1.8e9)
    assert not verify_signature(SECRET, "1800000000", BODY, digest, now=1.8e9)
    assert not verify_signature(SECRET, "1800000000", BODY, "sha256=中文", now=1.8e9)


def test_settings() -> None:
    channel = WebhookChannel.from_settings(
        Settings("webhook", {"url": "https://school.example.com/hook", "secret": "s"})
    )
    assert channel.url == "https://school.example.com/hook"
    with pytest.raises(ChannelConfigError, match=r"webhook.secret: is required"):
        WebhookChannel.from_settings(Settings("webhook", {"url": "https://x.example.com/"}))
