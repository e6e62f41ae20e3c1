"""``campaign health``: list the dispatchers' and workers' heartbeats; fail when a kind is missing.

A probe for systemd timers, Kubernetes or a monitoring check: it exits 0 when at least one
process of every kind asked for ticked in time, 1 when a kind has none, 2 when Redis cannot be
reached (or none is configured: the embedded Redis of a lone process is private to it).
"""

from __future__ import annotations

import json
import time

import click
import redis as redis_client
from flask import current_app
from flask.cli import with_appcontext

from campaign.health import KINDS, read_beats, summarize
from campaign.redis_server import configured_url, connect


@click.command("health")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(KINDS),
    help="The kind of process that must be alive (repeat; default: dispatcher and worker).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the heartbeats as JSON.")
@click.option(
    "--timeout", default=3.0, show_default=True, help="Seconds to wait for Redis to answer."
)
@with_appcontext
def health(kinds: tuple[str, ...], as_json: bool, timeout: float) -> None:
    """Show live dispatchers and workers; exit 1 when a kind has no live process."""
    wanted = list(kinds) or list(KINDS)
    try:
        url = configured_url(current_app.config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if url is None:
        click.echo(
            "no Redis configured (CAMPAIGN_REDIS_URL or CAMPAIGN_REDIS_SENTINELS): heartbeats "
            "are shared only through a configured Redis",
            err=True,
        )
        raise SystemExit(2)
    client = connect(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        now = time.time()
        beats = read_beats(client, now)
    except redis_client.RedisError as exc:
        click.echo(f"cannot read the heartbeats from Redis: {exc}", err=True)
        raise SystemExit(2) from exc
    finally:
        client.close()
    summary = summarize(beats, now, wanted)
    missing = summary.missing(wanted)
    if as_json:
        report = {
            "ok": not missing,
            "alive": dict(summary.alive),
            "stale": dict(summary.stale),
            "processes": [beat.report(now) for beat in beats],
        }
        click.echo(json.dumps(report, indent=2))
    else:
        for beat in beats:
            click.echo(beat.describe(now))
        counts = "; ".join(
            f"{kind}: {summary.alive.get(kind, 0)} alive"
            + (f" ({summary.stale[kind]} stale)" if summary.stale.get(kind) else "")
            for kind in sorted(set(wanted) | set(summary.alive))
        )
        click.echo(counts)
        for kind in missing:
            click.echo(f"no live {kind}", err=True)
    if missing:
        raise SystemExit(1)
