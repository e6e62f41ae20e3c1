"""Real local servers for the channel tests, and a message factory.

Every server listens on 127.0.0.1 on an ephemeral port, runs in a thread, and is shut down and
closed (handler threads joined) when the test ends, so no socket is left open.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from campaign.journeys.spec import Channel
from campaign.messages.channels.base import OutgoingMessage, Recipient

RECIPIENT = Recipient(
    learner_id=7,
    external_id="L-0007",
    name="王小明",
    timezone="Asia/Shanghai",
    email="xiaoming@example.com",
    phone="+8613800138000",
    wecom_external_userid="wmEXTERNAL0007",
    advisor_name="李老师",
    advisor_wecom_userid="li.laoshi",
)


def make_message(channel: Channel = Channel.LOG, **overrides: Any) -> OutgoingMessage:
    """Return a rendered message; ``recipient_<field>=`` overrides one recipient field."""
    recipient_changes = {
        key.removeprefix("recipient_"): overrides.pop(key)
        for key in list(overrides)
        if key.startswith("recipient_")
    }
    message = OutgoingMessage(
        delivery_id=42,
        idempotency_key="d42-a1",
        channel=channel,
        text="王小明，今天的作业还差一点点，有卡住的地方随时问我。",
        recipient=replace(RECIPIENT, **recipient_changes),
        journey_key="python-camp",
        step_key="homework-reminder",
    )
    return replace(message, **overrides)


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server whose handler threads are joined on close."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.release = threading.Event()  # slow handlers wait on it; set at shutdown
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.script: list[Any] = []  # canned answers the handler gives first, in order
        self.state: dict[str, Any] = {}  # the handler's own memory

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class Recorded:
    """One request as the server saw it."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class Handler(BaseHTTPRequestHandler):
    """Base handler: records each request, quiet logs, JSON replies."""

    server: LocalServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_request(self) -> Recorded:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        recorded = Recorded(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        with self.server.lock:
            self.server.requests.append(recorded)
        return recorded

    def reply(self, status: int, data: Any = None, headers: dict[str, str] | None = None) -> None:
        body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    def next_scripted(self) -> Any:
        """Pop the next canned answer, or None when the script is used up."""
        with self.server.lock:
            return self.server.script.pop(0) if self.server.script else None

    def stall(self) -> None:
        """Hold the reply until the test ends (the client's timeout fires first)."""
        self.server.release.wait(10)
        self.close_connection = True


@contextmanager
def running(handler: type[BaseHTTPRequestHandler]) -> Iterator[LocalServer]:
    server = LocalServer(handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


ServeFactory = Callable[[type[BaseHTTPRequestHandler]], LocalServer]


@pytest.fixture
def serve() -> Iterator[ServeFactory]:
    """Start a server for a handler class; it is stopped when the test ends."""
    with ExitStack() as stack:
        yield lambda handler: stack.enter_context(running(handler))


@pytest.fixture
def closed_port() -> int:
    """Return a port on 127.0.0.1 with nothing listening (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make a test certificate; install openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
