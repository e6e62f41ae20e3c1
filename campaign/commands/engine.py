"""``campaign dispatcher`` and ``campaign worker``: the processes that send.

Both find Redis through ``CAMPAIGN_REDIS_URL``; without it they start an embedded server under
the instance folder (and stop it when they exit).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click
import redis as redis_client
from flask import current_app
from flask.cli import with_appcontext
from rq import Queue, SimpleWorker

from campaign.journeys.spec import Channel
from campaign.messages.dispatcher import run_dispatcher, single_dispatcher
from campaign.messages.runtime import build_runtime, set_runtime
from campaign.queues import QueueName, queue
from campaign.redis_server import connect, resolve

CHANNEL_NAMES = [c.value for c in Channel]

log = logging.getLogger("campaign.worker")


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command("dispatcher")
@click.option("--burst", is_flag=True, help="Stop when nothing is due instead of waiting.")
@with_appcontext
def dispatcher(burst: bool) -> None:
    """Claim due deliveries and queue them for the workers, until stopped (Ctrl-C, SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    url, embedded = resolve(app.config, app.instance_path)
    runtime = build_runtime(app)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        with single_dispatcher(runtime, app.instance_path):
            stats = run_dispatcher(runtime, connect(url), stop=stop, burst=burst)
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
@with_appcontext
def worker(channels: tuple[str, ...], burst: bool) -> None:
    """Send queued batches: one RQ worker on one channel's queue (or on all of them)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    url, embedded = resolve(app.config, app.instance_path)
    set_runtime(build_runtime(app))
    redis = connect(url)
    names = [QueueName.for_channel(Channel(c)) for c in channels] or list(QueueName)
    try:
        work([queue(name, redis) for name in names], redis, burst=burst)
    finally:
        if embedded is not None:
            embedded.stop()


class _Worker(SimpleWorker):
    """RQ's SimpleWorker, remembering whether it was asked to stop (SIGTERM, Ctrl-C)."""

    stop_requested = False
    max_connection_wait_time = 5.0  # between tries while Redis is gone (RQ's default: 60 s)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def work(queues: list[Queue], redis: redis_client.Redis, *, burst: bool = False) -> None:
    """Work the queues until asked to stop; outlive a Redis that goes away and comes back.

    RQ's work loop retries a lost connection while it waits for a job, but gives up (the
    process exits) when Redis goes away while a job runs or between jobs. The rows are safe in
    SQL whatever happens to Redis, so the worker waits for Redis instead and works again.
    """
    stop = threading.Event()
    while True:
        rq_worker = _Worker(queues, connection=redis)
        try:
            rq_worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
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
