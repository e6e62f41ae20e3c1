"""The WeCom (企业微信) channel: the external-contact server API.

WeCom has no server API that silently sends a 1v1 marketing message, so this adapter does the
two things the API allows:

- **Welcome message** (``send_welcome_msg``) when the message's ``metadata`` carries the
  ``welcome_code`` of an add-contact event and ``added_at``, the time of that event. WeCom takes it
  only within 20 s of the event, and once: later than that the adapter refuses without calling.
- **Enterprise mass-send task** (``add_msg_template``, ``chat_type: single``) otherwise: it creates
  a task that the advisor (``recipient.advisor_wecom_userid``) confirms in WeCom. The result's
  ``provider_id`` is WeCom's ``msgid``; the message is *not* known to be delivered.

The access token (``gettoken``) is cached until shortly before it expires and fetched again once
when WeCom says it is invalid or expired (errcode 40014, 42001). Each API's calls are counted by a
client-side limiter (10,000 a minute, 150,000 an hour by default: WeCom's per-company limit).

Errcodes: -1 (system busy), 6000 (data version conflict), 45009 (frequency limit), 45033
(concurrency limit) and 41096 (another app is sending the welcome) are transient; everything else
is permanent, with the errcode and errmsg in the reason.

Not idempotent: WeCom does not de-duplicate mass-send tasks, so a request to ``add_msg_template``
that got no answer is reported as a permanent failure whose reason says the outcome is unknown
(the advisor's WeCom shows whether the task exists), never retried blindly.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from campaign.clock import Clock, SystemClock
from campaign.journeys.spec import Channel
from campaign.messages.channels import _http
from campaign.messages.channels._settings import Settings
from campaign.messages.channels.base import (
    ChannelError,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
    UnknownOutcomeChannelError,
)
from campaign.messages.channels.ratelimit import SlidingWindowLimiter

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"
GETTOKEN = "/cgi-bin/gettoken"
SEND_WELCOME_MSG = "/cgi-bin/externalcontact/send_welcome_msg"
ADD_MSG_TEMPLATE = "/cgi-bin/externalcontact/add_msg_template"

WELCOME_WINDOW = timedelta(seconds=20)
MAX_TEXT_BYTES = 4000  # text.content of both APIs
PER_MINUTE = 10_000
PER_HOUR = 150_000

TOKEN_INVALID = frozenset({40014, 42001})  # invalid access_token, access_token expired
WELCOME_ALREADY_SENT = 41051  # "externaluser has started chatting": a welcome already went out
# errcode -> seconds to wait before retrying (None: no hint)
TRANSIENT_ERRCODES: Mapping[int, float | None] = {
    -1: None,  # system busy
    6000: 1.0,  # data version conflict
    41096: 1.0,  # another app is sending the welcome message right now
    45009: 60.0,  # API frequency limit
    45033: 1.0,  # API concurrency limit
}


def errcode_error(errcode: int, errmsg: str, api: str) -> ChannelError:
    """Return the error for a WeCom errcode other than 0."""
    reason = f"WeCom {api} errcode {errcode}: {errmsg}"
    if errcode in TRANSIENT_ERRCODES:
        return TransientChannelError(reason, TRANSIENT_ERRCODES[errcode])
    return PermanentChannelError(reason)


def parse_added_at(value: Any) -> datetime:
    """Read ``added_at``: an aware datetime, an ISO 8601 text, or Unix seconds (WeCom's
    ``CreateTime``). A naive time is taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"added_at is not an ISO 8601 time: {value!r}") from None
    else:
        raise ValueError(f"added_at must be a time, got {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class WeComChannel:
    """Welcome messages and advisor-confirmed mass-send tasks through WeCom's server API."""

    channel: ClassVar[Channel] = Channel.WECOM
    idempotent: ClassVar[bool] = False

    def __init__(
        self,
        *,
        corp_id: str,
        corp_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        welcome_window: timedelta = WELCOME_WINDOW,
        per_minute: int = PER_MINUTE,
        per_hour: int = PER_HOUR,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """:param clock: the engine's clock, against which ``added_at`` is compared.
        :param monotonic: seconds for the token's lifetime and the rate limiter.
        """
        if not corp_id or not corp_secret:
            raise ValueError("corp_id and corp_secret are required")
        self.base_url = _http.check_url(base_url).rstrip("/")
        self.corp_id = corp_id
        self.corp_secret = corp_secret
        self.timeout = timeout
        self.welcome_window = welcome_window
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.clock = clock or SystemClock()
        self.monotonic = monotonic
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        self._lock = threading.Lock()
        self._limiters: dict[str, SlidingWindowLimiter] = {}

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> WeComChannel:
        """Build from ``CHANNELS["wecom"]``; see docs/channels.md for every key."""
        try:
            channel = cls(
                corp_id=settings.required_text("corp_id"),
                corp_secret=settings.required_text("corp_secret"),
                base_url=settings.text("base_url", DEFAULT_BASE_URL),
                timeout=settings.number("timeout", 10.0),
                welcome_window=timedelta(
                    seconds=settings.number(
                        "welcome_window_seconds", WELCOME_WINDOW.total_seconds()
                    )
                ),
                per_minute=settings.integer("per_minute", PER_MINUTE),
                per_hour=settings.integer("per_hour", PER_HOUR),
                clock=clock,
            )
        except ValueError as exc:
            raise settings.invalid(str(exc)) from exc
        settings.check_all_read()
        return channel

    # --- sending ------------------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendResult:
        if len(message.text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise PermanentChannelError(
                f"WeCom text is limited to {MAX_TEXT_BYTES} bytes "
                f"(this one has {len(message.text.encode('utf-8'))})"
            )
        if message.metadata.get("welcome_code"):
            return self._send_welcome(message)
        return self._create_mass_send(message)

    def _send_welcome(self, message: OutgoingMessage) -> SendResult:
        code = str(message.metadata["welcome_code"])
        if message.metadata.get("added_at") is None:
            raise PermanentChannelError("a welcome message needs added_at (the add event's time)")
        try:
            added_at = parse_added_at(message.metadata["added_at"])
        except ValueError as exc:
            raise PermanentChannelError(str(exc)) from exc

        def check_window() -> None:
            age = self.clock.now() - added_at
            if age > self.welcome_window:
                raise PermanentChannelError(
                    f"welcome window passed: the contact was added {age.total_seconds():.0f} s "
                    f"ago and WeCom takes a welcome message only within "
                    f"{self.welcome_window.total_seconds():.0f} s"
                )

        check_window()
        body = {"welcome_code": code, "text": {"content": message.text}}
        data = self._call(SEND_WELCOME_MSG, body, before_each_try=check_window, retry_unknown=True)
        errcode = _errcode(data)
        if errcode == WELCOME_ALREADY_SENT:
            raise PermanentChannelError(
                f"WeCom {SEND_WELCOME_MSG} errcode {errcode}: a welcome message already reached "
                f"this customer ({data.get('errmsg', '')})"
            )
        if errcode != 0:
            raise errcode_error(errcode, str(data.get("errmsg", "")), SEND_WELCOME_MSG)
        return SendResult(detail="welcome message sent")

    def _create_mass_send(self, message: OutgoingMessage) -> SendResult:
        customer = message.recipient.wecom_external_userid
        sender = message.recipient.advisor_wecom_userid
        if not customer:
            raise PermanentChannelError("this learner has no WeCom external_userid")
        if not sender:
            raise PermanentChannelError("the advisor has no WeCom userid to send from")
        body = {
            "chat_type": "single",
            "external_userid": [customer],
            "sender": sender,
            "text": {"content": message.text},
        }
        data = self._call(ADD_MSG_TEMPLATE, body, retry_unknown=False)
        errcode = _errcode(data)
        if errcode != 0:
            raise errcode_error(errcode, str(data.get("errmsg", "")), ADD_MSG_TEMPLATE)
        fail_list = data.get("fail_list") or []
        if customer in fail_list:
            raise PermanentChannelError(
                f"WeCom cannot send to this customer (in fail_list): not a customer of "
                f"{sender}, or their mass-send quota is used up"
            )
        msgid = data.get("msgid")
        return SendResult(
            provider_id=str(msgid) if msgid is not None else None,
            detail=(
                f"WeCom mass-send task created for advisor {sender}: it goes out when they "
                f"confirm it in WeCom (not yet delivered)"
            ),
        )

    # --- the API ------------------------------------------------------------------------------

    def _call(
        self,
        api: str,
        body: Mapping[str, Any],
        *,
        retry_unknown: bool,
        before_each_try: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """POST ``body`` to ``api`` with a token; fetch a new token once if WeCom rejects it.

        Returns WeCom's JSON reply (errcode may be non-zero; the caller maps it).
        """
        encoded = json.dumps(body, ensure_ascii=False).encode("utf-8")
        data: dict[str, Any] = {}
        for _ in range(2):
            if before_each_try is not None:
                before_each_try()
            token = self._access_token()
            query = urlencode({"access_token": token})
            data = self._request(
                "POST", f"{api}?{query}", api, body=encoded, retry_unknown=retry_unknown
            )
            if _errcode(data) not in TOKEN_INVALID:
                return data
            self._forget_token(token)
        raise TransientChannelError(
            f"WeCom {api} errcode {_errcode(data)}: the access token was refused twice "
            f"({data.get('errmsg', '')})"
        )

    def _access_token(self) -> str:
        """Return the cached token, or fetch one (one fetch at a time per adapter)."""
        with self._token_lock:
            if self._token is not None and self.monotonic() < self._token_expires:
                return self._token
            query = urlencode({"corpid": self.corp_id, "corpsecret": self.corp_secret})
            data = self._request("GET", f"{GETTOKEN}?{query}", GETTOKEN, retry_unknown=True)
            errcode = _errcode(data)
            if errcode != 0:
                raise errcode_error(errcode, str(data.get("errmsg", "")), GETTOKEN)
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise TransientChannelError(f"WeCom {GETTOKEN} gave no access_token")
            lifetime = _number(data.get("expires_in"), 7200.0)
            # Refresh a little early so a token never expires between check and use.
            self._token = token
            self._token_expires = self.monotonic() + max(lifetime - 300.0, lifetime / 2)
            return token

    def _forget_token(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _limiter(self, api: str) -> SlidingWindowLimiter:
        with self._lock:
            limiter = self._limiters.get(api)
            if limiter is None:
                limiter = SlidingWindowLimiter(
                    [(60.0, self.per_minute), (3600.0, self.per_hour)], clock=self.monotonic
                )
                self._limiters[api] = limiter
            return limiter

    def _request(
        self,
        method: str,
        path_and_query: str,
        api: str,
        *,
        body: bytes | None = None,
        retry_unknown: bool,
    ) -> dict[str, Any]:
        wait = self._limiter(api).try_acquire()
        if wait > 0:
            raise TransientChannelError(
                f"WeCom {api}: client-side rate limit ({self.per_minute}/min, "
                f"{self.per_hour}/h) reached",
                retry_after=wait,
            )
        headers = {"Content-Type": "application/json; charset=utf-8"} if body else {}
        try:
            response = _http.request(
                method,
                self.base_url + path_and_query,
                body=body,
                headers=headers,
                timeout=self.timeout,
            )
        except _http.NotSent as exc:
            raise TransientChannelError(f"WeCom {api}: {exc}") from exc
        except _http.NoAnswer as exc:
            if retry_unknown:
                raise TransientChannelError(f"WeCom {api}: {exc}") from exc
            raise UnknownOutcomeChannelError(
                f"WeCom {api}: outcome unknown ({exc}); check the advisor's WeCom for the "
                f"task before sending again"
            ) from exc
        _http.raise_for_status(response, f"WeCom {api}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("errcode", 0), int):
            reason = f"WeCom {api}: the reply is not WeCom JSON ({response.describe()})"
            if retry_unknown:
                raise TransientChannelError(reason)
            raise UnknownOutcomeChannelError(f"{reason}; outcome unknown")
        return data


def _errcode(data: Mapping[str, Any]) -> int:
    value = data.get("errcode", 0)
    return value if isinstance(value, int) else -1


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default
