"""The chaos run: the real engine drains a cohort while its processes, Redis and database
connections are knocked over; then every row and every receipt is checked.

One run (``campaign bench chaos``, ``tests/chaos``):

1. a fresh PostgreSQL schema, migrated; a private Redis on a TCP port; a webhook receiver and a
   log outbox that count what they get (:mod:`campaign.proof.sink`);
2. the camp of :mod:`campaign.proof.camp`: about ``deliveries`` rows, all due at once, whose
   endings are known in advance (sent, skipped for three reasons, expired, cancelled);
3. the fleet: ``dispatchers`` × ``campaign dispatcher`` and ``workers`` × ``campaign worker``,
   one worker per channel queue first, the rest on the busiest queue; short leases so that what
   a kill leaves behind comes back within seconds;
4. the chaos, scheduled on the drain's progress (the share of rows already terminal) so it
   lands in the middle of the work however fast the engine is: ``kills`` SIGKILLs of a member
   drawn from a shuffled deck of the fleet (every dispatcher and worker is hit once before any
   is hit twice; each is restarted at once, as a supervisor would), one Redis crash (SIGKILL,
   down for a moment, started again empty on the same port) and one ``pg_terminate_backend``
   of every connection the engine's processes hold (they connect with their own
   ``application_name``, so nothing else on the server is touched); rows claimed or sending
   past their lease + 60 s are looked for every two seconds. Progress comes in lumps (a
   batch, a lease taken back), so one enrollment in ten
   (:data:`campaign.proof.chaos_run.HOLD_EVERY`) is held back, its rows moved far into the
   future, until the last event has fired, and progress is counted on the rows not held: the
   drain cannot end before the chaos does;
5. once every row is terminal (or the deadline passes) the fleet is stopped and the checks of
   :mod:`campaign.proof.checks` run on the rows, the receipts, the outbox and the tasks.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import make_url

from campaign.proof import camp as camp_module
from campaign.proof.chaos_run import ChaosConfig, ChaosRun, echo_err
from campaign.proof.checks import (
    Outcome,
    check_outcome,
    counts_by_outcome,
    counts_by_state,
    reposts,
)
from campaign.proof.database import fresh_database
from campaign.proof.fleet import Fleet, RedisServer
from campaign.proof.result import ChaosResult
from campaign.proof.schedule import plan_events, worker_queues
from campaign.proof.sink import WebhookSink, outbox_lines

__all__ = ["ChaosConfig", "echo_err", "run_chaos"]


def engine_env(run: ChaosRun, redis_url: str, channels: dict[str, Any]) -> dict[str, str]:
    """The fleet's environment: this one without ``CAMPAIGN_*``, plus the run's settings."""
    config = run.config
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    settings: dict[str, Any] = {
        "DATABASE_URL": run.engine_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(run.folder / "instance"),
        "CHANNELS": json.dumps(channels),
        "DISPATCH_TICK_SECONDS": config.tick,
        "DISPATCH_LIMIT": config.dispatch_limit,
        "DISPATCH_JOB_SIZE": config.job_size,
        "CLAIM_LEASE_SECONDS": config.claim_lease,
        "SEND_LEASE_SECONDS": config.send_lease,
        "SEND_BACKOFF_SECONDS": 1,  # a receiver too busy to answer is tried again soon
    }
    env.update({f"CAMPAIGN_{key}": str(value) for key, value in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_chaos(config: ChaosConfig) -> ChaosResult:
    """Run the chaos suite once (see the module doc) and return its result."""
    if make_url(config.postgres_url).get_backend_name() != "postgresql":
        raise click.UsageError(
            "the chaos run needs PostgreSQL (several dispatchers, cut connections); "
            "give a postgresql+psycopg:// URL"
        )
    if config.deliveries < 10 or config.dispatchers < 1 or config.workers < 1:
        raise click.UsageError("give at least 10 deliveries, 1 dispatcher and 1 worker")
    folder = config.folder or Path(tempfile.mkdtemp(prefix="campaign-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    echo = config.echo
    began = time.monotonic()
    ok = False
    try:
        with fresh_database(
            "postgresql", config.postgres_url, keep=config.keep, prefix="chaos"
        ) as url:
            result = _run(config, url, folder, began)
            ok = result.ok
            return result
    finally:
        if config.folder is None and not config.keep and ok:
            shutil.rmtree(folder, ignore_errors=True)
        elif not ok:
            echo(f"chaos: logs kept in {folder}")


def _run(config: ChaosConfig, url: str, folder: Path, began: float) -> ChaosResult:
    echo = config.echo
    run = ChaosRun(config, url, folder)
    sink = WebhookSink(secret=uuid.uuid4().hex)
    redis = RedisServer(folder / "redis")
    fleet: Fleet | None = None
    dispatcher_words: list[str] = []
    outbox = folder / "outbox.jsonl"
    try:
        echo(f"chaos: planning about {config.deliveries:,} deliveries")
        camp = camp_module.set_up(run.sessions, config.deliveries, now=datetime.now(UTC))
        total = sum(run.states().values())  # as planned (the checks compare with camp.rows)
        sink.start()
        redis.start()
        channels = {
            "webhook": sink.settings(),
            "wecom": "log",
            "log": {"path": str(outbox), "logger": False},
        }
        loads = {
            "webhook": camp.main_learners * 3,
            "advisor_task": camp.main_learners,
            "wecom": camp.capped_learners * 2,
        }
        queues = worker_queues(config.workers, loads)
        fleet = Fleet(
            engine_env(run, redis.url, channels),
            folder / "logs",
            dispatchers=config.dispatchers,
            worker_channels=queues,
        )
        events = plan_events(config.kills, run.rng)
        held = run.hold_back() if events else 0
        setup_s = time.monotonic() - began
        echo(
            f"chaos: {total:,} rows due in {setup_s:.1f} s; starting {config.dispatchers} "
            f"dispatchers and {config.workers} workers ({', '.join('+'.join(q) for q in queues)});"
            f" {held:,} rows held back until the chaos is over"
        )
        fleet.start()
        drained, drain_s = run.drain(fleet, redis, total, events, held)
        run.sample_stuck()
        dispatcher_words = fleet.stop()
        rows, tasks = run.observe()
        webhook = sink.snapshot()
    finally:
        if fleet is not None:
            fleet.stop()
        redis.stop()
        sink.stop()
        run.db.dispose()
    outcome = Outcome(
        rows=rows,
        expected=camp.expected,
        webhook=webhook,
        outbox=outbox_lines(outbox),
        tasks=tasks,
        stuck=sorted(run.stuck.values(), key=lambda s: s.id),
        drained=drained,
        events_planned=len(events),
        events_fired=sum(1 for e in events if e.fired_after is not None),
        terminated_backends=run.terminated,
        unexpected_exits=fleet.unexpected_exits,
    )
    checks = check_outcome(outcome)
    result = ChaosResult(
        ok=all(check.ok for check in checks),
        checks=checks,
        config=config.to_json(),
        deliveries=total,
        by_state=counts_by_state(rows),
        by_outcome=counts_by_outcome(rows),
        events=events,
        timings={
            "setup_s": round(setup_s, 2),
            "drain_s": round(drain_s, 2),
            "total_s": round(time.monotonic() - began, 2),
            "rate_per_s": round(total / drain_s, 1) if drain_s else 0.0,
        },
        sink={
            "requests": webhook.requests,
            "accepted": len(webhook.keys),
            "reposts": reposts(webhook),
            "invalid": webhook.invalid,
        },
        retried_rows=sum(1 for row in rows if row.attempts > 1),
        dispatchers=dispatcher_words,
        unexpected_exits=fleet.unexpected_exits,
        stuck=outcome.stuck,
        folder=str(folder),
    )
    echo(result.report())
    return result
