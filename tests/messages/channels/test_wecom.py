"""The WeCom channel against a local server speaking WeCom's documented API.

The server implements ``gettoken``, ``externalcontact/send_welcome_msg`` and
``externalcontact/add_msg_template`` with their request and response shapes: access tokens that
it can expire, welcome codes usable once, customers per advisor (others land in ``fail_list``),
and canned errcodes for the rate-limit and busy cases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from campaign.clock import FrozenClock
from campaign.journeys.spec import Channel
from campaign.messages.channels._settings import ChannelConfigError, Settings
from campaign.messages.channels.base import (
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
    UnknownOutcomeChannelError,
)
from campaign.messages.channels.wecom import DEFAULT_BASE_URL, WeComChannel, parse_added_at

from .conftest import Handler, LocalServer, Recorded, ServeFactory, make_message
from .test_ratelimit import Ticker

CORP_ID = "ww1234567890abcdef"
CORP_SECRET = "s3cret-of-the-customer-contact-app"
NOW = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
GETTOKEN = "/cgi-bin/gettoken"
WELCOME = "/cgi-bin/externalcontact/send_welcome_msg"
TEMPLATE = "/cgi-bin/externalcontact/add_msg_template"


class WeCom(Handler):
    """Enough of WeCom's server API for the adapter, with WeCom's errcodes."""

    def state(self) -> dict[str, Any]:
        state = self.server.state
        state.setdefault("tokens", set())
        state.setdefault("expired", set())
        state.setdefault("welcome_codes", {"WELCOME-1": False, "WELCOME-2": False})
        state.setdefault("customers", {"li.laoshi": {"wmEXTERNAL0007"}})
        state.setdefault("tasks", [])
        state.setdefault("expires_in", 7200)
        return state

    def do_GET(self) -> None:
        request = self.read_request()
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path != GETTOKEN:
            self.reply(404, None)
            return
        with self.server.lock:
            state = self.state()
            if query.get("corpid") != CORP_ID:
                answer: dict[str, Any] = {"errcode": 40013, "errmsg": "invalid corpid"}
            elif query.get("corpsecret") != CORP_SECRET:
                answer = {"errcode": 40001, "errmsg": "invalid credential"}
            else:
                token = f"ACCESS-TOKEN-{len(state['tokens']) + 1}"
                state["tokens"].add(token)
                answer = {
                    "errcode": 0,
                    "errmsg": "ok",
                    "access_token": token,
                    "expires_in": state["expires_in"],
                }
        self.reply(200, answer)

    def do_POST(self) -> None:
        request = self.read_request()
        parts = urlsplit(request.path)
        token = parse_qs(parts.query).get("access_token", [""])[0]
        scripted = self.next_scripted()
        if scripted == "stall":
            self.stall()
            return
        if isinstance(scripted, tuple):  # a raw HTTP answer: (status, body)
            self.reply(*scripted)
            return
        with self.server.lock:
            state = self.state()
            if token in state["expired"]:
                answer: dict[str, Any] = {"errcode": 42001, "errmsg": "access_token expired"}
            elif token not in state["tokens"]:
                answer = {"errcode": 40014, "errmsg": "invalid access_token"}
            elif scripted is not None:
                answer = scripted
            elif parts.path == WELCOME:
                answer = self.welcome(state, request)
            elif parts.path == TEMPLATE:
                answer = self.template(state, request)
            else:
                answer = {"errcode": 404, "errmsg": "no such api"}
        self.reply(200, answer)

    def welcome(self, state: dict[str, Any], request: Recorded) -> dict[str, Any]:
        body = request.json()
        code = body.get("welcome_code")
        if code not in state["welcome_codes"] or not body.get("text", {}).get("content"):
            return {"errcode": 40058, "errmsg": "invalid welcome_code or text"}
        if state["welcome_codes"][code]:
            return {"errcode": 41051, "errmsg": "externaluser has started chatting"}
        state["welcome_codes"][code] = True
        return {"errcode": 0, "errmsg": "ok"}

    def template(self, state: dict[str, Any], request: Recorded) -> dict[str, Any]:
        body = request.json()
        if body.get("chat_type") != "single" or not body.get("text", {}).get("content"):
            return {"errcode": 40058, "errmsg": "invalid chat_type or text"}
        sender = body.get("sender")
        if sender not in state["customers"]:
            return {"errcode": 40003, "errmsg": "invalid userid"}
        fail_list = [x for x in body["external_userid"] if x not in state["customers"][sender]]
        msgid = f"msgGCAAAXtWyujaWJHDDGi0mAA{len(state['tasks']) + 1:04d}"
        state["tasks"].append({"msgid": msgid, **body})
        return {"errcode": 0, "errmsg": "ok", "fail_list": fail_list, "msgid": msgid}


def wecom(server: LocalServer, **overrides: Any) -> WeComChannel:
    settings: dict[str, Any] = dict(
        corp_id=CORP_ID,
        corp_secret=CORP_SECRET,
        base_url=server.url,
        timeout=2.0,
        clock=FrozenClock(NOW),
        monotonic=Ticker(),
    )
    settings.update(overrides)
    return WeComChannel(**settings)


def calls(server: LocalServer, path: str) -> list[Recorded]:
    return [r for r in server.requests if urlsplit(r.path).path == path]


def welcome_message(added_ago: float = 3.0, **metadata: Any) -> OutgoingMessage:
    meta: dict[str, Any] = {
        "welcome_code": "WELCOME-1",
        "added_at": NOW - timedelta(seconds=added_ago),
    }
    meta.update(metadata)
    return make_message(
        Channel.WECOM, text="你好王小明，我是李老师，欢迎加入训练营！", metadata=meta
    )


# --- mass-send tasks ----------------------------------------------------------------------------


def test_creates_a_mass_send_task_for_the_advisor(serve: ServeFactory) -> None:
    server = serve(WeCom)
    result = wecom(server).send(make_message(Channel.WECOM))
    [token_call] = calls(server, GETTOKEN)
    assert parse_qs(urlsplit(token_call.path).query) == {
        "corpid": [CORP_ID],
        "corpsecret": [CORP_SECRET],
    }
    [call] = calls(server, TEMPLATE)
    assert parse_qs(urlsplit(call.path).query) == {"access_token": ["ACCESS-TOKEN-1"]}
    assert call.json() == {
        "chat_type": "single",
        "external_userid": ["wmEXTERNAL0007"],
        "sender": "li.laoshi",
        "text": {"content": make_message().text},
    }
    assert result.provider_id == server.state["tasks"][0]["msgid"]
    assert result.detail is not None
    assert "li.laoshi" in result.detail and "confirm" in result.detail
    assert not WeComChannel.idempotent


def test_the_token_is_cached_until_it_nearly_expires(serve: ServeFactory) -> None:
    server = serve(WeCom)
    clock = Ticker(0.0)
    channel = wecom(server, monotonic=clock)
    channel.send(make_message(Channel.WECOM))
    clock.now = 6800.0  # still valid (7200 s, refreshed 300 s early)
    channel.send(make_message(Channel.WECOM))
    assert len(calls(server, GETTOKEN)) == 1
    clock.now = 6901.0
    channel.send(make_message(Channel.WECOM))
    assert len(calls(server, GETTOKEN)) == 2
    last = calls(server, TEMPLATE)[-1]
    assert parse_qs(urlsplit(last.path).query)["access_token"] == ["ACCESS-TOKEN-2"]


@pytest.mark.parametrize("errcode_set", ["expired", "revoked"])
def test_a_refused_token_is_fetched_again_once(serve: ServeFactory, errcode_set: str) -> None:
    server = serve(WeCom)
    channel = wecom(server)
    channel.send(make_message(Channel.WECOM))
    with server.lock:
        if errcode_set == "expired":  # 42001
            server.state["expired"].add("ACCESS-TOKEN-1")
        else:  # 40014
            server.state["tokens"].discard("ACCESS-TOKEN-1")
    result = channel.send(make_message(Channel.WECOM))
    assert result.provider_id == server.state["tasks"][-1]["msgid"]
    assert len(calls(server, GETTOKEN)) == 2
    assert len(calls(server, TEMPLATE)) == 3  # ok, refused, ok with the new token


def test_a_token_refused_twice_is_transient(serve: ServeFactory) -> None:
    server = serve(WeCom)
    server.script.extend(
        [{"errcode": 40014, "errmsg": "invalid access_token"}, {"errcode": 42001, "errmsg": "x"}]
    )
    with pytest.raises(TransientChannelError, match=r"refused twice"):
        wecom(server).send(make_message(Channel.WECOM))
    assert len(calls(server, GETTOKEN)) == 2


@pytest.mark.parametrize(
    ("errcode", "errmsg", "error", "retry_after"),
    [
        (45009, "api freq out of limit", TransientChannelError, 60.0),
        (45033, "api concurrent out of limit", TransientChannelError, 1.0),
        (-1, "system busy", TransientChannelError, None),
        (84061, "not external contact", PermanentChannelError, None),
        (41001, "access_token missing", PermanentChannelError, None),
        (40096, "invalid external userid", PermanentChannelError, None),
    ],
)
def test_errcodes(
    serve: ServeFactory,
    errcode: int,
    errmsg: str,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    server = serve(WeCom)
    server.script.append({"errcode": errcode, "errmsg": errmsg})
    with pytest.raises(error, match=f"errcode {errcode}: {errmsg}") as caught:
        wecom(server).send(make_message(Channel.WECOM))
    if isinstance(caught.value, TransientChannelError):
        assert caught.value.retry_after == retry_after


def test_a_customer_in_fail_list_is_permanent(serve: ServeFactory) -> None:
    server = serve(WeCom)
    with pytest.raises(PermanentChannelError, match=r"fail_list"):
        wecom(server).send(make_message(Channel.WECOM, recipient_wecom_external_userid="wmOTHER"))


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("recipient_wecom_external_userid", "no WeCom external_userid"),
        ("recipient_advisor_wecom_userid", "advisor has no WeCom userid"),
    ],
)
def test_missing_ids_are_permanent_without_a_call(
    serve: ServeFactory, field: str, reason: str
) -> None:
    server = serve(WeCom)
    with pytest.raises(PermanentChannelError, match=reason):
        wecom(server).send(make_message(Channel.WECOM, **{field: None}))
    assert server.requests == []


def test_text_over_4000_bytes_is_permanent(serve: ServeFactory) -> None:
    server = serve(WeCom)
    with pytest.raises(PermanentChannelError, match=r"4000 bytes"):
        wecom(server).send(make_message(Channel.WECOM, text="字" * 1334))  # 4002 bytes
    assert server.requests == []


def test_an_unanswered_mass_send_is_not_retried_blindly(serve: ServeFactory) -> None:
    server = serve(WeCom)
    channel = wecom(server, timeout=0.3)
    channel.send(make_message(Channel.WECOM))  # token fetched
    server.script.append("stall")
    with pytest.raises(UnknownOutcomeChannelError, match=r"outcome unknown"):
        channel.send(make_message(Channel.WECOM))


def test_a_garbled_mass_send_reply_is_an_unknown_outcome(serve: ServeFactory) -> None:
    server = serve(WeCom)
    server.script.append((200, "<html>proxy</html>"))
    with pytest.raises(UnknownOutcomeChannelError, match=r"not WeCom JSON.*outcome unknown"):
        wecom(server).send(make_message(Channel.WECOM))


def test_a_proxy_error_is_transient(serve: ServeFactory) -> None:
    server = serve(WeCom)
    server.script.append((502, {"error": "bad gateway"}))
    with pytest.raises(TransientChannelError, match=r"HTTP 502"):
        wecom(server).send(make_message(Channel.WECOM))


def test_an_unreachable_server_is_transient(closed_port: int) -> None:
    channel = WeComChannel(
        corp_id=CORP_ID, corp_secret=CORP_SECRET, base_url=f"http://127.0.0.1:{closed_port}"
    )
    with pytest.raises(TransientChannelError, match=r"cannot connect"):
        channel.send(make_message(Channel.WECOM))


@pytest.mark.parametrize(
    ("corp_id", "corp_secret", "errcode"),
    [("wrong", CORP_SECRET, 40013), (CORP_ID, "wrong", 40001)],
)
def test_bad_credentials_are_permanent(
    serve: ServeFactory, corp_id: str, corp_secret: str, errcode: int
) -> None:
    server = serve(WeCom)
    channel = wecom(server, corp_id=corp_id, corp_secret=corp_secret)
    with pytest.raises(PermanentChannelError, match=f"gettoken errcode {errcode}"):
        channel.send(make_message(Channel.WECOM))
    assert calls(server, TEMPLATE) == []


def test_the_client_side_rate_limit(serve: ServeFactory) -> None:
    server = serve(WeCom)
    clock = Ticker(0.0)
    channel = wecom(server, per_minute=2, monotonic=clock)
    channel.send(make_message(Channel.WECOM))
    channel.send(make_message(Channel.WECOM))
    with pytest.raises(TransientChannelError, match=r"client-side rate limit") as caught:
        channel.send(make_message(Channel.WECOM))
    assert caught.value.retry_after == 61.0
    assert len(calls(server, TEMPLATE)) == 2  # the third never reached WeCom
    clock.now = 61.0
    channel.send(make_message(Channel.WECOM))
    assert len(calls(server, TEMPLATE)) == 3


# --- welcome messages ---------------------------------------------------------------------------


def test_sends_the_welcome_message_within_the_window(serve: ServeFactory) -> None:
    server = serve(WeCom)
    result = wecom(server).send(welcome_message(added_ago=19))
    [call] = calls(server, WELCOME)
    assert call.json() == {
        "welcome_code": "WELCOME-1",
        "text": {"content": "你好王小明，我是李老师，欢迎加入训练营！"},
    }
    assert result.detail == "welcome message sent"
    assert calls(server, TEMPLATE) == []
    assert server.state["welcome_codes"]["WELCOME-1"] is True


def test_past_20_seconds_the_welcome_is_refused_without_a_call(serve: ServeFactory) -> None:
    server = serve(WeCom)
    with pytest.raises(PermanentChannelError, match=r"welcome window passed.*21 s ago"):
        wecom(server).send(welcome_message(added_ago=21))
    assert server.requests == []


def test_a_used_welcome_code_is_permanent(serve: ServeFactory) -> None:
    server = serve(WeCom)
    channel = wecom(server)
    channel.send(welcome_message())
    with pytest.raises(PermanentChannelError, match=r"41051.*already reached"):
        channel.send(welcome_message())


def test_an_unanswered_welcome_may_be_retried(serve: ServeFactory) -> None:
    server = serve(WeCom)
    channel = wecom(server, timeout=0.3)
    channel.send(welcome_message(welcome_code="WELCOME-2"))  # fetch the token first
    server.script.append("stall")
    with pytest.raises(TransientChannelError, match=r"timed out"):
        channel.send(welcome_message())


def test_another_app_sending_the_welcome_is_transient(serve: ServeFactory) -> None:
    server = serve(WeCom)
    server.script.append({"errcode": 41096, "errmsg": "welcome msg is being distributed"})
    with pytest.raises(TransientChannelError, match=r"41096"):
        wecom(server).send(welcome_message())


def test_added_at_forms() -> None:
    moment = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
    assert parse_added_at(moment) == moment
    assert parse_added_at("2026-12-08T12:00:00+08:00") == moment
    assert parse_added_at("2026-12-08T04:00:00") == moment  # naive: UTC
    assert parse_added_at(int(moment.timestamp())) == moment  # WeCom's CreateTime
    with pytest.raises(ValueError):
        parse_added_at("yesterday")
    with pytest.raises(ValueError):
        parse_added_at(True)


def test_welcome_metadata_problems_are_permanent(serve: ServeFactory) -> None:
    server = serve(WeCom)
    channel = wecom(server)
    with pytest.raises(PermanentChannelError, match=r"needs added_at"):
        channel.send(welcome_message(added_at=None))
    with pytest.raises(PermanentChannelError, match=r"not an ISO 8601"):
        channel.send(welcome_message(added_at="just now"))
    ok = channel.send(welcome_message(added_at=int(NOW.timestamp()) - 2))
    assert ok.detail == "welcome message sent"


# --- settings -----------------------------------------------------------------------------------


def test_settings() -> None:
    channel = WeComChannel.from_settings(
        Settings("wecom", {"corp_id": CORP_ID, "corp_secret": CORP_SECRET, "per_minute": "500"})
    )
    assert channel.base_url == DEFAULT_BASE_URL and channel.per_minute == 500
    assert channel.welcome_window == timedelta(seconds=20)
    with pytest.raises(ChannelConfigError, match=r"wecom.corp_secret: is required"):
        WeComChannel.from_settings(Settings("wecom", {"corp_id": CORP_ID}))
    with pytest.raises(ChannelConfigError, match=r"wecom.per_hour: expected a whole number"):
        WeComChannel.from_settings(
            Settings("wecom", {"corp_id": "a", "corp_secret": "b", "per_hour": 1.5})
        )
