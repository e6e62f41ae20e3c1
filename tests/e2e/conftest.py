"""Real processes for the end-to-end tests: a private Redis, dispatcher and workers, and sinks.

- Every process (``redis-server``, ``campaign dispatcher``, ``campaign worker``) runs in its own
  process group, writes to a log file under the test's folder, and is stopped (SIGTERM, then
  SIGKILL to the whole group) when the test ends, pass or fail: nothing is left running. Should
  the test run itself be killed before it can clean up, the kernel kills the children too
  (``setpriv --pdeathsig``).
- Redis is private to the test: a ``redis-server`` on a free port with no persistence, which a
  test may kill and start again on the same port (empty), as after a crash.
- Sinks listen on 127.0.0.1 on ephemeral ports and record every receipt, duplicates included:
  a webhook receiver (HTTP, checks the signature) and an SMTP server (aiosmtpd).
- The processes get their settings the way they would in production: ``CAMPAIGN_*`` variables
  and a ``config.py`` in their instance folder (for ``CHANNELS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from campaign.messages.channels.webhook import verify_signature
from campaign.models import Delivery, DeliveryStatus

CAMPAIGN = Path(sys.executable).parent / "campaign"
# Children die with the test run even if it is killed before its clean-up runs (a CI timeout):
# setpriv (util-linux) asks the kernel to SIGKILL a child whose parent dies.
SETPRIV = shutil.which("setpriv")
ORPHAN_GUARD = [SETPRIV, "--pdeathsig", "KILL", "--"] if SETPRIV else []
WEBHOOK_SECRET = "e2e-secret"
T = TypeVar("T")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, every: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# --- processes --------------------------------------------------------------------------------


@dataclass
class Proc:
    """One child process in its own process group, logging to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    terminated: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def kill9(self) -> None:
        """Kill the process (and its group) with SIGKILL and reap it."""
        if self.alive():
            self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM, once), without waiting."""
        if self.alive() and not self.terminated:
            self.terminated = True
            self._signal_group(signal.SIGTERM)

    def stop(self, timeout: float = 2) -> None:
        """Ask the process to stop (SIGTERM); kill the group if it does not within ``timeout``."""
        if not self.alive():
            return
        self.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.popen.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


class Processes:
    """Spawns child processes and stops every one of them at the end of the test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.all: list[Proc] = []
        self._counts: Counter[str] = Counter()

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        self._counts[name] += 1
        log = self.folder / f"{name}-{self._counts[name]}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [*ORPHAN_GUARD, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: killpg reaches its children
                cwd=self.folder,
            )
        proc = Proc(f"{name}-{self._counts[name]}", popen, log)
        self.all.append(proc)
        return proc

    def stop_all(self) -> None:
        """Stop the engine's processes (all at once), then the Redis servers they use."""
        engine = [proc for proc in self.all if not proc.name.startswith("redis")]
        servers = [proc for proc in self.all if proc.name.startswith("redis")]
        for group in (engine, servers):
            for proc in group:
                proc.terminate()
            for proc in group:
                proc.stop()

    def report(self, tail: int = 40) -> str:
        """Return the end of every process's log (printed when a test fails)."""
        parts = []
        for proc in self.all:
            lines = proc.output().splitlines()[-tail:]
            state = "running" if proc.alive() else f"exit {proc.popen.returncode}"
            parts.append(f"--- {proc.name} (pid {proc.pid}, {state}) ---\n" + "\n".join(lines))
        return "\n".join(parts)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path / "processes")
    try:
        yield procs
    finally:
        try:
            procs.stop_all()
        finally:
            print(procs.report())  # shown by pytest only when the test failed


class RedisServer:
    """A private ``redis-server`` without persistence; ``restart`` brings it back empty."""

    def __init__(self, procs: Processes, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is needed for the end-to-end tests; install redis", False)
        self.binary = binary
        self.procs = procs
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Proc | None = None

    def start(self) -> None:
        self.proc = self.procs.spawn(
            "redis",
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.folder),
            ],
        )  # fmt: skip
        wait_for(self.ping, timeout=10, what=f"redis-server on port {self.port}")

    def ping(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill9()

    def restart(self) -> None:
        """Kill the server with SIGKILL and start a new, empty one on the same port."""
        self.kill()
        self.start()

    def client(self) -> redis.Redis:
        """Return a client (close it, or use it in a ``with``)."""
        return redis.Redis(port=self.port, socket_connect_timeout=2)


@pytest.fixture
def redis_server(processes: Processes, tmp_path: Path) -> RedisServer:
    server = RedisServer(processes, tmp_path / "redis")
    server.start()
    return server


# --- the engine's processes -------------------------------------------------------------------


@dataclass
class Engine:
    """Starts ``campaign dispatcher`` and ``campaign worker`` processes on one configuration."""

    procs: Processes
    instance: Path
    database_url: str
    redis_url: str
    settings: dict[str, Any] = field(default_factory=dict)  # CAMPAIGN_<KEY> = JSON value
    channels: dict[str, Any] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
        env.update(
            PYTHONUNBUFFERED="1",
            CAMPAIGN_INSTANCE_PATH=str(self.instance),
            CAMPAIGN_DATABASE_URL=self.database_url,
            CAMPAIGN_REDIS_URL=self.redis_url,
        )
        for key, value in self.settings.items():
            env[f"CAMPAIGN_{key}"] = value if isinstance(value, str) else json.dumps(value)
        return env

    def write_config(self) -> None:
        self.instance.mkdir(parents=True, exist_ok=True)
        (self.instance / "config.py").write_text(
            f"CHANNELS = {self.channels!r}\n", encoding="utf-8"
        )

    def dispatcher(self) -> Proc:
        self.write_config()
        return self.procs.spawn("dispatcher", [str(CAMPAIGN), "dispatcher"], self.env())

    def worker(self, *channels: str) -> Proc:
        self.write_config()
        argv = [str(CAMPAIGN), "worker"]
        for channel in channels:
            argv += ["--channel", channel]
        return self.procs.spawn("worker", argv, self.env())


@pytest.fixture
def engine(
    processes: Processes, redis_server: RedisServer, database_url: str, tmp_path: Path
) -> Engine:
    """An engine on the test's database and private Redis; the test adds settings and channels."""
    return Engine(processes, tmp_path / "engine-instance", database_url, redis_server.url)


def registered_workers(server: RedisServer) -> int:
    """Return how many RQ workers are registered on the server (live ones, after a restart)."""
    from rq import Worker

    with server.client() as client:
        try:
            return len(Worker.all(connection=client))
        except redis.ConnectionError:
            return 0


# --- sinks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """One message as a sink got it; ``at`` is real time (``time.time()``)."""

    at: float
    delivery_id: int
    step: str
    learner: str
    text: str
    valid: bool = True  # the signature checked out (webhook)


class Sink:
    """What every sink keeps: each receipt, in order, duplicates included."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.receipts: list[Receipt] = []

    def record(self, receipt: Receipt) -> None:
        with self.lock:
            self.receipts.append(receipt)

    def snapshot(self) -> list[Receipt]:
        with self.lock:
            return list(self.receipts)

    def count(self) -> int:
        with self.lock:
            return len(self.receipts)

    def duplicates(self) -> dict[int, int]:
        """Return delivery id -> times received, for every id received more than once."""
        counts = Counter(r.delivery_id for r in self.snapshot())
        return {delivery_id: n for delivery_id, n in counts.items() if n > 1}


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _WebhookServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        at = time.time()
        valid = verify_signature(
            WEBHOOK_SECRET,
            self.headers.get("X-Campaign-Timestamp"),
            body,
            self.headers.get("X-Campaign-Signature"),
        )
        data = json.loads(body.decode("utf-8"))
        self.server.sink.record(
            Receipt(
                at=at,
                delivery_id=int(data["delivery_id"]),
                step=str(data["step"]),
                learner=str(data["recipient"]["external_id"]),
                text=str(data["text"]),
                valid=valid and self.headers.get("Idempotency-Key") == data["idempotency_key"],
            )
        )
        reply = json.dumps({"id": f"hook-{data['delivery_id']}"}).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class _WebhookServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, sink: Sink) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.sink = sink


class WebhookSink(Sink):
    """A webhook receiver; ``settings`` is the channel's ``CHANNELS["webhook"]`` entry."""

    def __init__(self, server: _WebhookServer | None = None) -> None:
        super().__init__()
        self.server = server

    @property
    def settings(self) -> dict[str, Any]:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return {"url": f"http://{host!s}:{port}/hook", "secret": WEBHOOK_SECRET, "timeout": 10}


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    server = _WebhookServer(sink)
    sink.server = server
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _EphemeralController(Controller):
    """aiosmtpd's controller on port 0: learn the real port before the readiness probe."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink(Sink):
    """An SMTP server that accepts every message; ``hold`` delays the reply after recording it.

    The hold widens the moment in which the sink has the message but the worker has not yet
    recorded "sent": a worker killed then leaves a row that did reach the learner.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hold = 0.0
        self.port = 0

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        mail = message_from_bytes(content, policy=default_policy)
        self.record(
            Receipt(
                at=time.time(),
                delivery_id=int(str(mail["X-Campaign-Delivery"])),
                step="",
                learner=str(mail["To"]),
                text=str(mail["Subject"]),
            )
        )
        if self.hold:
            await asyncio.sleep(self.hold)
        return "250 Message accepted for delivery"

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "from_address": "camp@school.example.com",
            "local_hostname": "localhost",
            "timeout": 10,
        }


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    controller = _EphemeralController(sink, hostname="127.0.0.1", port=0)
    controller.start()
    sink.port = controller.port
    try:
        yield sink
    finally:
        controller.stop()


# --- reading the rows -------------------------------------------------------------------------


def status_counts(session: DbSession) -> dict[str, int]:
    """Return how many deliveries are in each status (a fresh read)."""
    session.expire_all()
    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    session.commit()  # end the read transaction: the processes write meanwhile
    return {str(status): int(n) for status, n in rows}


def not_terminal(session: DbSession) -> int:
    counts = status_counts(session)
    return sum(n for status, n in counts.items() if not DeliveryStatus(status).is_terminal)


def all_rows(session: DbSession) -> list[Delivery]:
    session.expire_all()
    rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
    session.commit()
    return rows


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def real_to_virtual(
    real: float, anchor_real: datetime, anchor_virtual: datetime, speed: float
) -> datetime:
    """Map a real instant (``time.time()``) to the warped clock's virtual time."""
    elapsed = datetime.fromtimestamp(real, UTC) - anchor_real
    return anchor_virtual + elapsed * speed
