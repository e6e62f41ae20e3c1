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
from flask import current_app
from flask.cli import with_appcontext
from rq import SimpleWorker

from campaign.journeys.spec import Channel
from campaign.messages.dispatcher import run_dispatcher, single_dispatcher
from campaign.messages.runtime import build_runtime, set_runtime
from campaign.queues import QueueName, queue
from campaign.redis_server import connect, resolve

CHANNEL_NAMES = [c.value for c in Channel]


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
        SimpleWorker([queue(name, redis) for name in names], connection=redis).work(
            burst=burst, logging_level="WARNING", with_scheduler=False
        )
    finally:
        if embedded is not None:
            embedded.stop()
