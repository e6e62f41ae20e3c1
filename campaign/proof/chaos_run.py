"""The chaos run's harness: its settings, and the state of one run between set-up and the
checks (the drain it watches, the chaos it fires, the held-back rows it releases, the rows it
samples for stuck leases). :mod:`campaign.proof.chaos` sets a run up and judges it.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, make_url, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from campaign.db import make_engine, make_sessionmaker
from campaign.models import Delivery, Task
from campaign.proof.checks import (
    OPEN,
    STUCK_AFTER_SECONDS,
    TERMINAL,
    Row,
    Stuck,
    stuck_rows,
)
from campaign.proof.database import DEFAULT_POSTGRES_URL, with_query
from campaign.proof.fleet import Fleet, Member, RedisServer
from campaign.proof.schedule import Event

STUCK_SAMPLE_EVERY = 2.0  # seconds between looks for rows stuck past their lease
POLL = 0.5  # seconds between looks at the drain's progress
HOLD_EVERY = 10  # one enrollment in this many waits until every event has fired
HOLD_SHIFT_SQL = text("interval '36500 days'")  # how far a held row's due time moves


def echo_err(message: str) -> None:
    click.echo(message, err=True)


@dataclass
class ChaosConfig:
    """The size and knobs of a run; the defaults are the issue's full-size run."""

    deliveries: int = 100_000
    kills: int = 20
    dispatchers: int = 2
    workers: int = 4
    postgres_url: str = DEFAULT_POSTGRES_URL
    folder: Path | None = None  # logs, outbox, Redis files; default: a temporary folder
    keep: bool = False  # keep the schema and the folder afterwards
    claim_lease: float = 10.0  # CLAIM_LEASE_SECONDS
    send_lease: float = 5.0  # SEND_LEASE_SECONDS
    tick: float = 0.2  # DISPATCH_TICK_SECONDS: every pass sweeps expired leases
    dispatch_limit: int = 1000  # DISPATCH_LIMIT
    job_size: int = 50  # DISPATCH_JOB_SIZE
    redis_down: float = 2.0  # seconds Redis stays down
    deadline: float | None = None  # seconds the drain may take; default from the size
    seed: int | None = None  # the chaos schedule's random seed (default: a new one)
    progress_every: float = 5.0  # seconds between progress lines
    echo: Callable[[str], None] = field(default=echo_err, repr=False)

    def drain_deadline(self) -> float:
        return self.deadline if self.deadline is not None else max(180.0, self.deliveries / 20)

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("echo")
        values["folder"] = str(self.folder) if self.folder else None
        values["postgres_url"] = make_url(self.postgres_url).render_as_string(hide_password=True)
        return values


class ChaosRun:
    """The state of one run between set-up and the checks."""

    def __init__(self, config: ChaosConfig, url: str, folder: Path) -> None:
        self.config = config
        self.folder = folder
        self.app_name = f"campaign-chaos-{uuid.uuid4().hex[:8]}"
        self.engine_url = with_query(url, application_name=self.app_name)
        self.db = make_engine(with_query(url, application_name=f"{self.app_name}-harness"))
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.db)
        self.rng = random.Random(config.seed)
        self.stuck: dict[int, Stuck] = {}
        self.terminated: int | None = None
        self.victims: list[Member] = []

    def states(self) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(
                select(Delivery.status, func.count()).group_by(Delivery.status)
            ).all()
        return {str(status): int(n) for status, n in rows}

    def hold_back(self) -> int:
        """Move the rows of one enrollment in :data:`HOLD_EVERY` far ahead; return how many.

        Whole enrollments are held so that every learner's rows are judged together (the daily
        cap counts a learner's sends); expiry counts from ``planned_at``, which does not move.
        """
        with self.sessions() as session:
            held = session.execute(
                update(Delivery)
                .where(Delivery.enrollment_id % HOLD_EVERY == 0)
                .values(due_at=Delivery.due_at + HOLD_SHIFT_SQL)
            ).rowcount
            session.commit()
        return int(held or 0)

    def release(self) -> None:
        """Give the held rows their due times back: they are due at once."""
        with self.sessions() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.enrollment_id % HOLD_EVERY == 0)
                .values(due_at=Delivery.due_at - HOLD_SHIFT_SQL)
            )
            session.commit()

    def sample_stuck(self) -> None:
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=STUCK_AFTER_SECONDS)
        with self.sessions() as session:
            rows = session.execute(
                select(Delivery.id, Delivery.status, Delivery.lease_until).where(
                    Delivery.status.in_(("claimed", "sending")),
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < cutoff),
                )
            ).all()
        for stuck in stuck_rows([(i, str(s), lease) for i, s, lease in rows], now):
            self.stuck.setdefault(stuck.id, stuck)

    def terminate_backends(self) -> dict[str, int]:
        """Cut every connection the engine's processes hold; return how many, by state."""
        with self.sessions() as session:
            cut = session.execute(
                text(  # the engine's connections first; only those are terminated
                    "WITH engine AS MATERIALIZED (SELECT pid, coalesce(state, 'unknown') AS state"
                    " FROM pg_stat_activity WHERE application_name = :name"
                    " AND pid <> pg_backend_pid())"
                    " SELECT state, count(*) FROM engine WHERE pg_terminate_backend(pid)"
                    " GROUP BY state"
                ),
                {"name": self.app_name},
            ).all()
            session.commit()
        return {str(state): int(n) for state, n in cut}

    def engine_connections(self) -> int:
        with self.sessions() as session:
            found = session.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": self.app_name},
            )
            session.commit()
        return int(found or 0)

    def fire(self, event: Event, fleet: Fleet, redis: RedisServer) -> bool:
        """Do ``event``; return False when it must wait (no engine connection to cut yet)."""
        if event.kind == "kill":
            if not self.victims:  # a shuffled deck: every member is hit before any twice
                self.victims = list(fleet.members)
                self.rng.shuffle(self.victims)
            member = self.victims.pop()
            pid = fleet.kill9(member)
            event.detail = f"SIGKILL {member.name} (pid {pid}, {' '.join(member.command)})"
        elif event.kind == "redis":
            redis.restart(self.config.redis_down)
            event.detail = f"Redis killed, down {self.config.redis_down:g} s, started empty"
        elif event.kind == "terminate":
            if self.engine_connections() == 0:  # every process between connections: wait
                return False
            cut = self.terminate_backends()
            self.terminated = sum(cut.values())
            states = ", ".join(f"{n} {state}" for state, n in sorted(cut.items()))
            event.detail = (
                f"pg_terminate_backend: {self.terminated} engine connections cut ({states})"
            )
        return True

    def drain(
        self, fleet: Fleet, redis: RedisServer, total: int, events: list[Event], held: int
    ) -> tuple[bool, float]:
        """Run the chaos until every row is terminal; return (drained, seconds taken).

        ``held`` rows wait (see :meth:`hold_back`) until the last event has fired; until then
        an event's ``at`` is a share of the other rows.
        """
        echo = self.config.echo
        started = time.monotonic()
        last_progress = last_stuck = started
        pending = list(events)
        while True:
            now = time.monotonic()
            states = self.states()
            done = sum(n for status, n in states.items() if status in TERMINAL)
            if done >= total and not any(states.get(s) for s in OPEN):
                return True, now - started
            if now - started > self.config.drain_deadline():
                return False, now - started
            if pending and done / max(1, total - held) >= pending[0].at:
                event = pending[0]
                if self.fire(event, fleet, redis):
                    pending.pop(0)
                    event.fired_after = now - started
                    echo(f"  {event.fired_after:6.1f} s  {event.kind}: {event.detail}")
                    if not pending and held:
                        self.release()
                        echo(f"  {now - started:6.1f} s  released the {held:,} held rows")
                        held = 0
            for name in fleet.revive():
                echo(f"  {now - started:6.1f} s  {name} exited by itself; started again")
            if now - last_stuck >= STUCK_SAMPLE_EVERY:
                self.sample_stuck()
                last_stuck = now
            if now - last_progress >= self.config.progress_every:
                last_progress = now
                shown = " ".join(f"{s} {n:,}" for s, n in sorted(states.items()))
                echo(
                    f"  {now - started:6.1f} s  {done:,}/{total:,} terminal "
                    f"({done / (now - started):,.0f}/s): {shown}"
                )
            due = pending and done / max(1, total - held) >= pending[0].at
            time.sleep(0.1 if due else POLL)

    def observe(self) -> tuple[list[Row], Counter[int]]:
        with self.sessions() as session:
            rows = [
                Row(i, str(status), reason, str(channel), int(attempts))
                for i, status, reason, channel, attempts in session.execute(
                    select(
                        Delivery.id,
                        Delivery.status,
                        Delivery.reason,
                        Delivery.channel,
                        Delivery.attempts,
                    )
                )
            ]
            tasks = Counter(
                {
                    int(i): int(n)
                    for i, n in session.execute(
                        select(Task.delivery_id, func.count()).group_by(Task.delivery_id)
                    )
                    if i is not None
                }
            )
        return rows, tasks
