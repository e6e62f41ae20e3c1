"""``campaign dispatcher`` and ``campaign worker``: the processes that send.

Both find Redis through ``CAMPAIGN_REDIS_URL``; without it they start an embedded server under
the instance folder (and stop it when they exit).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

import click
import redis as redis_client
from flask import current_app
from flask.cli import with_appcontext
from rq import Queue, SimpleWorker
from rq.worker import DequeueStrategy

from campaign.health import Heartbeat, job_seconds, probe_settings, running
from campaign.journeys.spec import Channel
from campaign.messages.dispatcher import run_dispatcher, single_dispatcher
from campaign.messages.runtime import build_runtime, set_runtime
from campaign.queues import QueueName, queue
from campaign.redis_server import connect, resolve

CHANNEL_NAMES = [c.value for c in Channel]

log = logging.getLogger("campaign.worker")

health_port_option = click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    envvar="CAMPAIGN_HEALTH_PORT",
    help="Answer GET /healthz (and /metrics) on this port: 200 while the loop ticks in time, "
    "else 503. Binds HEALTH_HOST (default 127.0.0.1).",
)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command("dispatcher")
@click.option("--burst", is_flag=True, help="Stop when nothing is due instead of waiting.")
@health_port_option
@with_appcontext
def dispatcher(burst: bool, health_port: int | None) -> None:
    """Claim due deliveries and queue them for the workers, until stopped (Ctrl-C, SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    url, embedded = resolve(app.config, app.instance_path)
    runtime = build_runtime(app)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        with single_dispatcher(runtime, app.instance_path):
            redis = connect(url)
            beat = Heartbeat.from_config("dispatcher", redis, app.config)
            host, port = probe_settings(app.config, health_port)
            with running(beat, host=host, port=port):
                stats = run_dispatcher(runtime, redis, stop=stop, burst=burst, heartbeat=beat)
        click.echo(
            f"dispatcher stopped: {stats.claimed} deliveries queued in {stats.batches} "
            f"batches; {stats.reclaimed} reclaimed, {stats.to_verify} to verify"
        )
    finally:
        if embedded is not None:
            embedded.stop()


@click.command("worker")
@click.option(
    "--channel",
    "channels",
    multiple=True,
    type=click.Choice(CHANNEL_NAMES),
    help="The channel queue to work (repeat for several; default: all of them).",
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@health_port_option
@with_appcontext
def worker(channels: tuple[str, ...], burst: bool, health_port: int | None) -> None:
    """Send queued batches: one RQ worker on one channel's queue (or on all of them)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    url, embedded = resolve(app.config, app.instance_path)
    set_runtime(build_runtime(app))
    names = [QueueName.for_channel(Channel(c)) for c in channels] or list(QueueName)
    beat = Heartbeat.from_config("worker", None, app.config, queues=[str(n) for n in names])
    # The blocking wait for a job must end before the socket's read timeout does (redis-py's
    # default is 5 s, and RQ's own adjustment misses connections already in the pool): else
    # every idle wait ends in a timeout and the worker starts over.
    redis = connect(url, socket_timeout=worker_ttl_for(beat) + 15)
    beat.redis = redis
    host, port = probe_settings(app.config, health_port)
    try:
        with running(beat, host=host, port=port):
            work([queue(name, redis) for name in names], redis, burst=burst, heartbeat=beat)
    finally:
        if embedded is not None:
            embedded.stop()


class _Worker(SimpleWorker):
    """RQ's SimpleWorker, remembering whether it was asked to stop (SIGTERM, Ctrl-C)."""

    stop_requested = False
    max_connection_wait_time = 5.0  # between tries while Redis is gone (RQ's default: 60 s)

    beat: Heartbeat | None = None  # ticked on every RQ heartbeat: each dequeue and each job

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        super().heartbeat(*args, **kwargs)
        if self.beat is not None:
            self.beat.tick()

    def execute_job(self, job: Any, queue: Queue) -> None:
        if self.beat is not None:  # alive while the job may run, plus the usual grace
            self.beat.busy(job_seconds(job) + self.beat.stale_after)
        try:
            super().execute_job(job, queue)
        finally:
            if self.beat is not None:
                self.beat.idle()
                self.beat.count("jobs_total")


def worker_ttl_for(heartbeat: Heartbeat | None) -> int:
    """Return RQ's ``worker_ttl``: RQ blocks on the queues for ``worker_ttl - 15`` s between
    its heartbeats, a third of the time after which a silent worker counts as stale."""
    stale_after = heartbeat.stale_after if heartbeat is not None else 60.0
    return 15 + max(1, int(stale_after / 3))


def work(
    queues: list[Queue],
    redis: redis_client.Redis,
    *,
    burst: bool = False,
    heartbeat: Heartbeat | None = None,
) -> None:
    """Work the queues until asked to stop; outlive a Redis that goes away and comes back.

    RQ's work loop retries a lost connection while it waits for a job, but gives up (the
    process exits) when Redis goes away while a job runs or between jobs. The rows are safe in
    SQL whatever happens to Redis, so the worker waits for Redis instead and works again.
    """
    stop = threading.Event()
    worker_ttl = worker_ttl_for(heartbeat)
    while True:
        try:
            rq_worker = _Worker(queues, connection=redis, worker_ttl=worker_ttl)
        except redis_client.RedisError as exc:  # started while Redis is away: wait for it
            log.warning("cannot reach Redis to start the worker: %s", exc)
        else:
            rq_worker.beat = heartbeat
            try:
                rq_worker.work(
                    burst=burst,
                    logging_level="WARNING",
                    with_scheduler=False,
                    # A worker on several queues takes them in turn: with RQ's default order a
                    # busy first queue would keep the others' jobs waiting past their lease.
                    dequeue_strategy=DequeueStrategy.ROUND_ROBIN,
                )
            except redis_client.RedisError as exc:  # its teardown could not reach Redis either
                log.warning("worker stopped on a Redis error: %s", exc)
                if rq_worker.pubsub_thread is not None:
                    rq_worker.pubsub_thread.stop()
            if rq_worker.stop_requested or burst:
                return
        _stop_on_signals(stop)  # RQ's handlers belonged to the worker that just ended
        delay = 0.5
        while not stop.wait(delay):  # at least one pause, so a worker never restarts in a spin
            try:
                redis.ping()
                break
            except redis_client.RedisError:
                delay = min(delay * 2, 5.0)
        if stop.is_set():
            return
        log.warning("Redis answers again; working on")
