"""Counting sinks: where a proof run's messages land, and how each one is counted.

The webhook channel is declared idempotent (``WebhookChannel.idempotent``): its contract is that
the receiver de-duplicates on the ``Idempotency-Key`` header, so the engine may post a delivery
again when it cannot know whether an earlier post arrived (a worker killed mid-send, a database
connection cut before "sent" was recorded). :class:`WebhookSink` is such a receiver: it accepts
a key the first time (that is the message the learner sees), answers a repeat the same way
without acting on it, and counts both. A duplicate is a delivery *accepted as new* more than
once, i.e. under two keys; repeats of one key are reported as re-posts, not duplicates.

Every request is kept as counts only (a 100,000-delivery run keeps a few dicts of ints), and
its signature is checked as a receiver would.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from campaign.messages.channels.webhook import verify_signature


@dataclass
class KeyRecord:
    """What the sink saw of one idempotency key."""

    delivery_id: int
    posts: int = 0
    first_at: float = 0.0


@dataclass
class SinkCounts:
    """A consistent copy of the sink's counters."""

    requests: int = 0
    invalid: int = 0  # bad signature, or header and body keys differ
    keys: dict[str, KeyRecord] = field(default_factory=dict)

    def accepted(self) -> Counter[int]:
        """Return delivery id -> keys accepted as new for it (more than 1 is a duplicate)."""
        return Counter(record.delivery_id for record in self.keys.values())

    def posts(self) -> Counter[int]:
        """Return delivery id -> requests received for it (re-posts included)."""
        found: Counter[int] = Counter()
        for record in self.keys.values():
            found[record.delivery_id] += record.posts
        return found


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            data = json.loads(body.decode("utf-8"))
            delivery_id = int(data["delivery_id"])
            body_key = str(data["idempotency_key"])
        except (ValueError, KeyError, TypeError):
            self._reply(400, {"error": "not a campaign message"})
            return
        header_key = self.headers.get("Idempotency-Key")
        valid = header_key == body_key and verify_signature(
            self.server.secret,
            self.headers.get("X-Campaign-Timestamp"),
            body,
            self.headers.get("X-Campaign-Signature"),
        )
        self.server.sink.record(body_key, delivery_id, valid=valid)
        self._reply(200, {"id": f"hook-{body_key}"})  # a repeat gets the same answer

    def _reply(self, status: int, document: dict[str, Any]) -> None:
        reply = json.dumps(document).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, sink: WebhookSink, secret: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sink = sink
        self.secret = secret


class WebhookSink:
    """A local webhook receiver that de-duplicates by ``Idempotency-Key`` and counts."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._lock = threading.Lock()
        self._counts = SinkCounts()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def record(self, key: str, delivery_id: int, *, valid: bool = True) -> bool:
        """Count one request; return True when the key was new (the message acted on)."""
        with self._lock:
            counts = self._counts
            counts.requests += 1
            if not valid:
                counts.invalid += 1
            record = counts.keys.get(key)
            new = record is None
            if record is None:
                record = counts.keys[key] = KeyRecord(delivery_id, first_at=time.time())
            record.posts += 1
            return new

    def snapshot(self) -> SinkCounts:
        with self._lock:
            counts = self._counts
            return SinkCounts(
                counts.requests,
                counts.invalid,
                {k: KeyRecord(r.delivery_id, r.posts, r.first_at) for k, r in counts.keys.items()},
            )

    def requests(self) -> int:
        with self._lock:
            return self._counts.requests

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def settings(self, timeout: float = 5.0) -> dict[str, Any]:
        """The channel's ``CHANNELS["webhook"]`` entry pointing at this sink."""
        return {"url": self.url, "secret": self.secret, "timeout": timeout}

    def start(self) -> None:
        self._server = _Server(self, self.secret)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="webhook-sink",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def outbox_lines(path: Path) -> Counter[int]:
    """Return delivery id -> lines in a log channel outbox file (a second line is a duplicate:
    the log channel itself skips a key already in the file)."""
    found: Counter[int] = Counter()
    if not path.exists():
        return found
    with open(path, "rb") as outbox:
        for raw in outbox:
            try:
                record = json.loads(raw)
            except ValueError:
                continue  # a line torn by a writer killed mid-write: it never counted
            if isinstance(record, dict) and isinstance(record.get("delivery_id"), int):
                found[record["delivery_id"]] += 1
    return found
