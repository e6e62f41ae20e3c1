"""A small HTTP client for the adapters (standard library only), and status → error rules.

It tells apart a request that never left (the connection failed: safe to retry anywhere) from
one that may have reached the server without an answer coming back (a timeout or a reset after
sending: safe to retry only where the far side de-duplicates). Every connection is closed before
the call returns.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from campaign.messages.channels.base import PermanentChannelError, TransientChannelError

MAX_BODY = 1024 * 1024  # a reply longer than this is cut (we only read small JSON replies)
USER_AGENT = "campaign-channels/1"


class NotSent(Exception):
    """The request never reached the server (DNS, refused, connect timeout, TLS handshake)."""


class NoAnswer(Exception):
    """The request may have reached the server but no complete answer came back."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """Return the body decoded as JSON; raise ``ValueError`` when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def describe(self) -> str:
        """Return ``HTTP 503 Service Unavailable: <start of the body>`` for an error reason."""
        text = self.body[:200].decode("utf-8", errors="replace").strip()
        return f"HTTP {self.status} {self.reason}" + (f": {text}" if text else "")


def check_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL; raise ``ValueError`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpResponse:
    """Send one request and read the whole reply; redirects are not followed.

    :raises NotSent: the connection could not be made.
    :raises NoAnswer: the connection was made but no complete reply came within ``timeout``.
    """
    parts = urlsplit(check_url(url))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "",
            parts.port,
            timeout=timeout,
            context=ssl_context or ssl.create_default_context(),
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    try:
        try:
            connection.connect()
        except OSError as exc:
            raise NotSent(f"cannot connect to {parts.netloc}: {_describe(exc)}") from exc
        try:
            connection.request(method, path, body=body, headers=all_headers)
            with connection.getresponse() as response:
                data = response.read(MAX_BODY)
                return HttpResponse(
                    status=response.status,
                    reason=response.reason,
                    headers={name.lower(): value for name, value in response.getheaders()},
                    body=data,
                )
        except (OSError, http.client.HTTPException) as exc:
            raise NoAnswer(f"no answer from {parts.netloc}: {_describe(exc)}") from exc
    finally:
        connection.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header: delta seconds or an HTTP date; None when absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


RETRYABLE_STATUSES = frozenset({408, 425, 429})


def raise_for_status(response: HttpResponse, what: str) -> None:
    """Return on 2xx; raise transient for 408/425/429/5xx, permanent for the rest.

    A 3xx is permanent: redirects are not followed, the configured URL is wrong.
    """
    if 200 <= response.status < 300:
        return
    reason = f"{what}: {response.describe()}"
    if response.status in RETRYABLE_STATUSES or response.status >= 500:
        raise TransientChannelError(reason, retry_after_seconds(response.header("Retry-After")))
    raise PermanentChannelError(reason)
