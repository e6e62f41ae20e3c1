"""Health of the engine's processes: heartbeats in Redis, a probe over HTTP, readiness checks.

Every ``campaign dispatcher`` and ``campaign worker`` keeps a :class:`Heartbeat`. Its loop
calls :meth:`Heartbeat.tick` once per iteration (a dispatcher pass, an RQ dequeue or job); that
only notes the time in memory. A small thread publishes what the loop last did to Redis every
few seconds, as ``campaign:heartbeat:<kind>:<host>:<pid>`` with a time-to-live of a few
intervals: a process that dies drops out within seconds, and a process whose loop hangs keeps
publishing an ever older tick and is reported stale. ``campaign health`` and the web app's
``/metrics`` read these keys. With ``--health-port`` the process also answers ``GET /healthz``
itself (200 while its loop ticked recently, 503 otherwise) for a supervisor's probe.

The pure parts (:class:`Beat`, :func:`summarize`) know nothing of Redis or HTTP.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask
    from redis import Redis
    from sqlalchemy import Engine

log = logging.getLogger("campaign.health")

KINDS = ("dispatcher", "worker")
HEARTBEAT_PREFIX = "campaign:heartbeat:"
HEARTBEAT_INDEX = "campaign:heartbeats"  # sorted set: heartbeat key -> when it expires
DEFAULT_STALE_SECONDS = 60.0  # a loop that has not ticked for this long is not healthy
DEFAULT_INTERVAL_SECONDS = 5.0  # how often a process publishes its heartbeat
DEFAULT_JOB_SECONDS = 180.0  # RQ's default job timeout: a worker may be busy this long


# --- the pure part ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Beat:
    """What one process last said about its loop (times are Unix seconds)."""

    kind: str
    host: str
    pid: int
    started_at: float
    at: float | None = None  # the last good iteration of the loop (None: none yet)
    tried_at: float | None = None  # the last iteration, good or failed
    busy_until: float | None = None  # a worker in a job counts as alive until then
    stale_after: float = DEFAULT_STALE_SECONDS
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return heartbeat_key(self.kind, self.host, self.pid)

    def age(self, now: float) -> float | None:
        """Return the seconds since the last good iteration (None before the first)."""
        return None if self.at is None else max(0.0, now - self.at)

    def alive(self, now: float) -> bool:
        """Tell whether the loop ticked within ``stale_after`` (or is busy on a job in time)."""
        if self.busy_until is not None and now <= self.busy_until:
            return True
        age = self.age(now)
        return age is not None and age <= self.stale_after

    def state(self, now: float) -> str:
        if self.alive(now):
            return "ok"
        return "starting" if self.at is None and self.tried_at is None else "stale"

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"details": dict(self.details)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Beat:
        data = json.loads(text)
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def report(self, now: float) -> dict[str, Any]:
        """Return this beat as the JSON a probe or ``campaign health --json`` shows."""
        age = self.age(now)
        return {
            "kind": self.kind,
            "host": self.host,
            "pid": self.pid,
            "status": self.state(now),
            "last_tick": _iso(self.at),
            "last_tick_age_seconds": None if age is None else round(age, 3),
            "busy": self.busy_until is not None and now <= self.busy_until,
            "stale_after_seconds": self.stale_after,
            "uptime_seconds": round(max(0.0, now - self.started_at), 3),
            "details": dict(self.details),
        }

    def describe(self, now: float) -> str:
        """Return one line for ``campaign health``."""
        age = self.age(now)
        when = "no tick yet" if age is None else f"last tick {age:.1f} s ago"
        if self.busy_until is not None and now <= self.busy_until:
            when += ", in a job"
        extra = ""
        if "last_claimed" in self.details:
            extra = (
                f", claimed {self.details['last_claimed']} in the last pass"
                f" ({self.details.get('claimed_total', 0)} in all)"
            )
        if self.details.get("queues"):
            extra += ", queues " + " ".join(map(str, self.details["queues"]))
        return f"{self.kind:<10} {self.host}:{self.pid:<8} {self.state(now):<8} {when}{extra}"


def heartbeat_key(kind: str, host: str, pid: int) -> str:
    return f"{HEARTBEAT_PREFIX}{kind}:{host}:{pid}"


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


@dataclass(frozen=True)
class Summary:
    """How many processes of each kind are alive and how many are stale."""

    alive: Mapping[str, int]
    stale: Mapping[str, int]

    def missing(self, kinds: Iterable[str]) -> list[str]:
        """Return the kinds (of ``kinds``) with no live process."""
        return [kind for kind in kinds if not self.alive.get(kind)]


def summarize(beats: Iterable[Beat], now: float, kinds: Iterable[str] = KINDS) -> Summary:
    alive = dict.fromkeys(kinds, 0)
    stale = dict.fromkeys(kinds, 0)
    for beat in beats:
        counts = alive if beat.alive(now) else stale
        counts[beat.kind] = counts.get(beat.kind, 0) + 1
    return Summary(alive, stale)


# --- the process side ---------------------------------------------------------------------------


class Heartbeat:
    """One process's heartbeat: its loop ticks it, a thread publishes it to Redis.

    :param kind: ``dispatcher`` or ``worker``.
    :param redis: where to publish (None: only the HTTP probe sees it).
    :param stale_after: seconds without a good tick after which the process is unhealthy.
    :param interval: seconds between publications; the key lives three intervals.
    """

    def __init__(
        self,
        kind: str,
        redis: Redis | None = None,
        *,
        stale_after: float = DEFAULT_STALE_SECONDS,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        host: str | None = None,
        pid: int | None = None,
        clock: Callable[[], float] = time.time,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.redis = redis
        self.interval = interval
        self.clock = clock
        self._beat = Beat(
            kind=kind,
            host=host or socket.gethostname(),
            pid=pid or os.getpid(),
            started_at=clock(),
            stale_after=stale_after,
            details=dict(details or {}),
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    @classmethod
    def from_config(
        cls, kind: str, redis: Redis | None, config: Mapping[str, Any], **details: Any
    ) -> Heartbeat:
        """Build a heartbeat from ``HEALTH_STALE_SECONDS`` and ``HEARTBEAT_SECONDS``."""
        return cls(
            kind,
            redis,
            stale_after=float(config.get("HEALTH_STALE_SECONDS") or DEFAULT_STALE_SECONDS),
            interval=float(config.get("HEARTBEAT_SECONDS") or DEFAULT_INTERVAL_SECONDS),
            details=details,
        )

    @property
    def stale_after(self) -> float:
        return self._beat.stale_after

    @property
    def key(self) -> str:
        return self._beat.key

    @property
    def ttl(self) -> float:
        """Seconds the published key lives: three intervals, so one lost write is no outage."""
        return max(3 * self.interval, 1.0)

    def tick(self, ok: bool = True, **details: Any) -> None:
        """Note one iteration of the loop (``ok=False``: it failed); ``details`` update the old."""
        now = self.clock()
        with self._lock:
            self._beat = replace(
                self._beat,
                at=now if ok else self._beat.at,
                tried_at=now,
                details={**self._beat.details, **details},
            )

    def count(self, name: str, by: int = 1) -> None:
        """Add ``by`` to the counter detail ``name`` (e.g. ``jobs_total``)."""
        with self._lock:
            details = dict(self._beat.details)
            details[name] = int(details.get(name, 0)) + by
            self._beat = replace(self._beat, details=details)

    def busy(self, seconds: float) -> None:
        """Say the loop is in one job that may take ``seconds``: alive until then."""
        with self._lock:
            self._beat = replace(self._beat, busy_until=self.clock() + seconds)

    def idle(self) -> None:
        with self._lock:
            self._beat = replace(self._beat, busy_until=None)

    def snapshot(self) -> Beat:
        with self._lock:
            return self._beat

    def healthy(self) -> bool:
        return self.snapshot().alive(self.clock())

    def publish(self) -> None:
        """Write the heartbeat to Redis now (raises RedisError when Redis is unreachable)."""
        if self.redis is None:
            return
        beat = self.snapshot()
        ttl = self.ttl
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(beat.key, beat.to_json(), px=int(ttl * 1000))
            pipe.zadd(HEARTBEAT_INDEX, {beat.key: self.clock() + ttl})
            pipe.execute()

    def _publish_quietly(self) -> None:
        from redis import RedisError

        try:
            self.publish()
        except RedisError as exc:
            if not self._failing:
                log.warning("cannot publish the heartbeat to Redis (retrying): %s", exc)
            self._failing = True
        else:
            if self._failing:
                log.warning("heartbeat published again")
            self._failing = False

    def _run(self) -> None:
        while True:
            self._publish_quietly()
            if self._stop.wait(self.interval):
                return

    def start(self) -> Heartbeat:
        """Start publishing every ``interval`` seconds (a daemon thread)."""
        if self.redis is not None and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"heartbeat-{self._beat.kind}", daemon=True
            )
            self._thread.start()
        return self

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop publishing and remove the key: a process that stops cleanly is gone at once."""
        from redis import RedisError

        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=5)
        if self.redis is not None:
            with contextlib.suppress(RedisError), self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self.key)
                pipe.zrem(HEARTBEAT_INDEX, self.key)
                pipe.execute()


def read_beats(redis: Redis, now: float | None = None) -> list[Beat]:
    """Return every published heartbeat (live or stale), dropping the index's dead entries."""
    now = time.time() if now is None else now
    entries: list[Any] = list(redis.zrange(HEARTBEAT_INDEX, 0, -1, withscores=True))
    if not entries:
        return []
    values = redis.mget([key for key, _ in entries])
    beats = []
    gone = []
    for (key, expires), value in zip(entries, values, strict=True):
        if value is None:
            if expires < now:  # its key ran out as it said it would: the process is gone
                gone.append(key)
            continue
        with contextlib.suppress(ValueError, TypeError, KeyError):
            beats.append(Beat.from_json(value))
    if gone:
        redis.zrem(HEARTBEAT_INDEX, *gone)
    return sorted(beats, key=lambda b: (b.kind, b.host, b.pid))


# --- the probe over HTTP ------------------------------------------------------------------------


class _ProbeHandler(BaseHTTPRequestHandler):
    server: HealthServer

    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            heartbeat = self.server.heartbeat
            now = heartbeat.clock()
            beat = heartbeat.snapshot()
            body = json.dumps(beat.report(now)).encode("utf-8")
            self._reply(200 if beat.alive(now) else 503, body, "application/json")
        elif path == "/metrics" and self.server.metrics is not None:
            body, content_type = self.server.metrics()
            self._reply(200, body, content_type)
        else:
            self._reply(404, b'{"error": "not found"}', "application/json")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class HealthServer(ThreadingHTTPServer):
    """``GET /healthz`` (and ``/metrics``) for one process, served from a daemon thread."""

    daemon_threads = True

    def __init__(
        self,
        heartbeat: Heartbeat,
        host: str,
        port: int,
        metrics: Callable[[], tuple[bytes, str]] | None = None,
    ) -> None:
        super().__init__((host, port), _ProbeHandler)
        self.heartbeat = heartbeat
        self.metrics = metrics
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> HealthServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="health", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()


@contextlib.contextmanager
def running(
    heartbeat: Heartbeat, *, port: int | None = None, host: str = "127.0.0.1"
) -> Iterator[HealthServer | None]:
    """Publish ``heartbeat`` and, given a ``port``, serve its probe, for the ``with`` block."""
    server = None
    heartbeat.start()
    try:
        if port is not None:
            from campaign.metrics import heartbeat_metrics

            server = HealthServer(heartbeat, host, port, heartbeat_metrics(heartbeat)).start()
            log.info("health probe on http://%s:%d/healthz", host, server.port)
        yield server
    finally:
        if server is not None:
            server.stop()
        heartbeat.stop()


def probe_settings(config: Mapping[str, Any], port: int | None) -> tuple[str, int | None]:
    """Return where to serve the probe: ``--health-port`` or ``HEALTH_PORT``, on ``HEALTH_HOST``."""
    if port is None and config.get("HEALTH_PORT") not in (None, ""):
        port = int(config["HEALTH_PORT"])
    return str(config.get("HEALTH_HOST") or "127.0.0.1"), port


def job_seconds(job: Any) -> float:
    """Return how long an RQ job may run (its timeout), for :meth:`Heartbeat.busy`."""
    timeout = getattr(job, "timeout", None)
    if timeout is None or timeout < 0:
        return DEFAULT_JOB_SECONDS
    return float(timeout)


# --- readiness of the web app -------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float

    def report(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.seconds * 1000, 1)}


def _timed(name: str, run: Callable[[], str]) -> Check:
    started = time.monotonic()
    try:
        detail = run()
    except Exception as exc:  # a probe reports every failure, whatever raised it
        return Check(name, False, f"{type(exc).__name__}: {exc}"[:300], time.monotonic() - started)
    return Check(name, True, detail, time.monotonic() - started)


def check_database(engine: Engine, timeout: float) -> Check:
    """Run ``SELECT 1``; on PostgreSQL under a statement timeout of ``timeout`` seconds."""
    from sqlalchemy import text

    def run() -> str:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                ms = max(1, math.ceil(timeout * 1000))
                connection.execute(text(f"SET LOCAL statement_timeout = {ms}"))
            connection.execute(text("SELECT 1"))
            connection.rollback()
        return engine.dialect.name

    return _timed("database", run)


def check_redis(url: str | None, timeout: float) -> Check:
    """PING the configured Redis with connect and read timeouts of ``timeout`` seconds."""
    from campaign.redis_server import connect

    def run() -> str:
        if url is None:
            return "not configured (each engine process embeds its own)"
        client = connect(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return "PONG"

    return _timed("redis", run)


def readiness(app: Flask) -> tuple[bool, dict[str, Any]]:
    """Check the database and Redis (``READYZ_TIMEOUT_SECONDS`` each, default 2)."""
    from campaign.db import database
    from campaign.redis_server import configured_url

    timeout = float(app.config.get("READYZ_TIMEOUT_SECONDS") or 2.0)
    checks = [check_database(database(app).engine, timeout)]
    try:
        url = configured_url(app.config)
    except ValueError as exc:
        checks.append(Check("redis", False, str(exc), 0.0))
    else:
        checks.append(check_redis(url, timeout))
    ok = all(check.ok for check in checks)
    return ok, {
        "status": "ok" if ok else "unavailable",
        "checks": {check.name: check.report() for check in checks},
    }


def init_app(app: Flask) -> None:
    """Add ``GET /readyz``: 200 when the database and Redis answer in time, else 503."""
    from flask import jsonify

    @app.get("/readyz")
    def readyz() -> Any:
        ok, report = readiness(app)
        response = jsonify(report)
        response.status_code = 200 if ok else 503
        response.headers["Cache-Control"] = "no-store"
        return response
