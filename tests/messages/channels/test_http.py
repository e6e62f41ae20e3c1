"""The adapters' HTTP client: what was sent, what was not, HTTPS, and Retry-After."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaign.messages.channels import _http

from .conftest import Handler, ServeFactory


class Echo(Handler):
    def do_POST(self) -> None:
        request = self.read_request()
        if self.next_scripted() == "stall":
            self.stall()
            return
        self.reply(200, {"path": request.path, "body": request.body.decode("utf-8")})


def test_round_trip(serve: ServeFactory) -> None:
    server = serve(Echo)
    response = _http.request(
        "POST", f"{server.url}/a?b=1", body="中文".encode(), headers={"X-A": "1"}, timeout=2
    )
    assert response.status == 200 and response.header("content-type") == (
        "application/json; charset=utf-8"
    )
    assert response.json() == {"path": "/a?b=1", "body": "中文"}
    [request] = server.requests
    assert request.headers["x-a"] == "1"
    assert request.headers["user-agent"] == _http.USER_AGENT


def test_https(serve: ServeFactory, certificate: tuple[Path, Path]) -> None:
    server = serve(Echo)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(*certificate)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    url = server.url.replace("http://", "https://")
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    response = _http.request("POST", url, body=b"x", timeout=2, ssl_context=trusted)
    assert response.json()["body"] == "x"
    with pytest.raises(_http.NotSent, match="CERTIFICATE_VERIFY_FAILED"):
        _http.request("POST", url, body=b"x", timeout=2)  # the system CAs do not know it


def test_refused_is_not_sent_and_a_stall_is_no_answer(
    serve: ServeFactory, closed_port: int
) -> None:
    with pytest.raises(_http.NotSent, match="cannot connect"):
        _http.request("POST", f"http://127.0.0.1:{closed_port}/", timeout=1)
    server = serve(Echo)
    server.script.append("stall")
    with pytest.raises(_http.NoAnswer, match="timed out"):
        _http.request("POST", server.url, body=b"", timeout=0.2)


@pytest.mark.parametrize("url", ["ftp://x/", "/relative", "http:///nohost", "mailto:a@b"])
def test_only_absolute_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        _http.check_url(url)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Tue, 08 Dec 2026 04:01:00 GMT", 60.0),
        ("Tue, 08 Dec 2026 03:00:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
    assert _http.retry_after_seconds(value, now) == seconds
