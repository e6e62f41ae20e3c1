"""Prometheus metrics: ``GET /metrics`` on the web app, read from SQL and Redis at scrape time.

Only counts and ages leave the process: no learner, step text or address appears in a label.
The figures are the whole engine's (every dispatcher and worker writes to the same database and
Redis), so scrape one web process per deployment, or sum nothing across web instances.

- ``campaign_deliveries{status}``: deliveries in each state (gauge);
- ``campaign_dispatch_lag_seconds``: how long the oldest due ``pending`` delivery has waited
  (0 when none is due);
- ``campaign_queue_jobs{queue}``: RQ jobs (batches) waiting on each queue;
- ``campaign_queue_failed_jobs{queue}``: RQ jobs that raised (not failed sends);
- ``campaign_queue_workers{queue}``: live workers listening on each queue;
- ``campaign_processes{kind,state}``: dispatchers and workers by heartbeat (``ok``, ``stale``);
- ``campaign_metrics_source_up{source}``: 1 when the database / Redis answered the scrape.

A scrape is cached for ``METRICS_CACHE_SECONDS`` (default 10). The lag is one probe of the
partial index of pending rows, whatever the table's size. The count by state is the one figure
that grows with the table (PostgreSQL counts about a million rows in a few tenths of a second,
from that index or the table, as its planner finds cheaper), so it is refreshed only every
``METRICS_COUNT_SECONDS`` (default 60); between refreshes, and when a refresh fails, the last
counts are shown. Every query runs under a statement timeout of
``METRICS_QUERY_TIMEOUT_SECONDS`` (default 5) on PostgreSQL.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from campaign.health import KINDS, Heartbeat, read_beats, summarize

if TYPE_CHECKING:
    from flask import Flask
    from redis import Redis
    from sqlalchemy.orm import Session

    from campaign.clock import Clock

log = logging.getLogger("campaign.metrics")

DEFAULT_CACHE_SECONDS = 10.0
DEFAULT_COUNT_SECONDS = 60.0
DEFAULT_QUERY_TIMEOUT_SECONDS = 5.0


class CampaignCollector(Collector):
    """Reads the engine's state at scrape time (cached for ``cache_seconds``)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        clock: Callable[[], Clock],
        redis: Callable[[], Redis | None],
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        count_seconds: float = DEFAULT_COUNT_SECONDS,
        query_timeout: float = DEFAULT_QUERY_TIMEOUT_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.redis = redis
        self.cache_seconds = cache_seconds
        self.count_seconds = count_seconds
        self.query_timeout = query_timeout
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None
        self._counts: tuple[float, dict[str, int]] | None = None  # (refresh after, counts)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is not None and time.monotonic() < self._cached[0]:
                metrics = self._cached[1]
            else:
                metrics = self._read()
                self._cached = (time.monotonic() + self.cache_seconds, metrics)
        yield from metrics

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily(
            "campaign_metrics_source_up",
            "1 when the source answered the last scrape, 0 when it did not.",
            labels=["source"],
        )
        metrics: list[Metric] = []
        for source, read in (("database", self._database), ("redis", self._redis)):
            try:
                found = read()
            except Exception:  # a scrape reports a source down, it does not fail whole
                up.add_metric([source], 0)
                continue
            if found is not None:
                metrics += found
                up.add_metric([source], 1)
        return [*metrics, up]

    def _database(self) -> list[Metric]:
        from sqlalchemy import func, select, text

        from campaign.models.delivery import Delivery, DeliveryStatus

        now = self.clock().now()
        session = self.sessions()
        try:
            if session.get_bind().dialect.name == "postgresql":
                ms = max(1, math.ceil(self.query_timeout * 1000))
                session.execute(text(f"SET LOCAL statement_timeout = {ms}"))
            oldest: datetime | None = session.scalar(
                select(func.min(Delivery.due_at)).where(
                    Delivery.status == DeliveryStatus.PENDING, Delivery.due_at <= now
                )
            )
            if self._counts is None or time.monotonic() >= self._counts[0]:
                try:
                    counted = session.execute(
                        select(Delivery.status, func.count()).group_by(Delivery.status)
                    )
                    counts = {str(status): int(n) for status, n in counted}
                except Exception:  # too slow this time: show the last counts, try again later
                    log.warning("counting deliveries by state failed", exc_info=True)
                else:
                    self._counts = (time.monotonic() + self.count_seconds, counts)
        finally:
            session.rollback()
            session.close()
        metrics: list[Metric] = []
        if self._counts is not None:
            deliveries = GaugeMetricFamily(
                "campaign_deliveries",
                f"Deliveries in each state (counted at most every {self.count_seconds:g} s).",
                labels=["status"],
            )
            for status in DeliveryStatus:
                deliveries.add_metric([status.value], self._counts[1].get(status.value, 0))
            metrics.append(deliveries)
        lag = GaugeMetricFamily(
            "campaign_dispatch_lag_seconds",
            "Seconds the oldest due pending delivery has waited on the engine's clock "
            "(0 when nothing is due).",
            value=0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()),
        )
        return [*metrics, lag]

    def _redis(self) -> list[Metric] | None:
        from campaign.queues import QueueName, queue

        redis = self.redis()
        if redis is None:
            return None
        jobs = GaugeMetricFamily(
            "campaign_queue_jobs", "RQ jobs (batches of deliveries) waiting.", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "campaign_queue_failed_jobs",
            "RQ jobs that raised (the rows themselves are recovered by the sweeper).",
            labels=["queue"],
        )
        now = time.time()
        beats = read_beats(redis, now)
        workers = dict.fromkeys((str(name) for name in QueueName), 0)
        for name in QueueName:
            rq_queue = queue(name, redis)
            jobs.add_metric([str(name)], rq_queue.count)
            failed.add_metric(
                [str(name)], rq_queue.failed_job_registry.get_job_count(cleanup=False)
            )
        for beat in beats:
            if beat.kind == "worker" and beat.alive(now):
                for listened in beat.details.get("queues") or ():
                    workers[str(listened)] = workers.get(str(listened), 0) + 1
        listening = GaugeMetricFamily(
            "campaign_queue_workers", "Live workers listening on each queue.", labels=["queue"]
        )
        for queue_name, count in workers.items():
            listening.add_metric([queue_name], count)
        summary = summarize(beats, now, KINDS)
        processes = GaugeMetricFamily(
            "campaign_processes",
            "Dispatcher and worker processes by heartbeat: ok (ticked in time) or stale.",
            labels=["kind", "state"],
        )
        for kind in sorted(set(summary.alive) | set(summary.stale)):
            processes.add_metric([kind, "ok"], summary.alive.get(kind, 0))
            processes.add_metric([kind, "stale"], summary.stale.get(kind, 0))
        return [jobs, failed, listening, processes]


def registry_for(app: Flask) -> CollectorRegistry:
    """Return a registry whose collector reads ``app``'s database and Redis at scrape time."""
    from campaign.clock import clock_from_config
    from campaign.db import database
    from campaign.redis_server import configured_url, connect

    config = app.config
    state: dict[str, Any] = {}

    def clock() -> Clock:
        if "clock" not in state:
            state["clock"] = clock_from_config(config)
        found: Clock = state["clock"]
        return found

    def redis() -> Redis | None:
        if "redis" not in state:
            url = configured_url(config)
            state["redis"] = (
                None if url is None else connect(url, socket_connect_timeout=2, socket_timeout=2)
            )
        client: Redis | None = state["redis"]
        return client

    registry = CollectorRegistry()
    registry.register(
        CampaignCollector(
            lambda: database(app).sessionmaker(),
            clock,
            redis,
            cache_seconds=float(config.get("METRICS_CACHE_SECONDS", DEFAULT_CACHE_SECONDS)),
            count_seconds=float(config.get("METRICS_COUNT_SECONDS", DEFAULT_COUNT_SECONDS)),
            query_timeout=float(
                config.get("METRICS_QUERY_TIMEOUT_SECONDS", DEFAULT_QUERY_TIMEOUT_SECONDS)
            ),
        )
    )
    return registry


def init_app(app: Flask) -> None:
    """Add ``GET /metrics`` (unless ``METRICS_ENABLED`` is false)."""
    from flask import Response

    if not app.config.get("METRICS_ENABLED", True):
        return
    registry = registry_for(app)

    @app.get("/metrics")
    def metrics() -> Response:
        response = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
        response.headers["Cache-Control"] = "no-store"
        return response


# --- one process's own figures (the dispatcher's and workers' health port) ----------------------

HELP = {
    "passes_total": "Dispatcher passes completed.",
    "claimed_total": "Deliveries claimed and queued.",
    "batches_total": "Batches (RQ jobs) queued.",
    "reclaimed_total": "Deliveries taken back by the sweeper (lease ran out).",
    "to_verify_total": "Deliveries the sweeper marked for a human to verify.",
    "last_claimed": "Deliveries claimed in the last pass.",
    "jobs_total": "RQ jobs this worker ran.",
}


class HeartbeatCollector(Collector):
    """One process's heartbeat as metrics: health, tick age and the loop's own counters."""

    def __init__(self, heartbeat: Heartbeat) -> None:
        self.heartbeat = heartbeat

    def collect(self) -> Iterator[Metric]:
        now = self.heartbeat.clock()
        beat = self.heartbeat.snapshot()
        yield GaugeMetricFamily(
            "campaign_process_healthy",
            "1 while this process's loop ticks in time.",
            value=1 if beat.alive(now) else 0,
        )
        age = beat.age(now)
        yield GaugeMetricFamily(
            "campaign_process_last_tick_age_seconds",
            "Seconds since this process's loop last completed an iteration.",
            value=math.nan if age is None else age,
        )
        for name, value in sorted(beat.details.items()):
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            full = f"campaign_{beat.kind}_{name}"
            text = HELP.get(name, f"{beat.kind} {name.replace('_', ' ')}.")
            if name.endswith("_total"):
                yield CounterMetricFamily(full, text, value=value)
            else:
                yield GaugeMetricFamily(full, text, value=value)


def heartbeat_metrics(heartbeat: Heartbeat) -> Callable[[], tuple[bytes, str]]:
    """Return a function rendering ``heartbeat``'s metrics in the Prometheus text format."""
    registry = CollectorRegistry()
    registry.register(HeartbeatCollector(heartbeat))
    return lambda: (generate_latest(registry), CONTENT_TYPE_LATEST)
