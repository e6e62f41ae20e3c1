"""What every phase of the engine benchmark shares: a fresh database, Redis, the processes.

The database is a fresh PostgreSQL schema (or a SQLite file) migrated with the real
migrations; Redis is a private embedded server unless one is named, so no other process on the
machine takes our jobs; the dispatcher and the workers are the stock ``campaign dispatcher``
and ``campaign worker`` processes, configured only through ``CAMPAIGN_*`` variables.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue, Worker
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from campaign.cohorts import open_cohort
from campaign.db import make_engine, make_sessionmaker
from campaign.demo.processes import EngineProcess, child_env, start
from campaign.messages.planning import NewEnrollment, enroll
from campaign.models import Advisor, Cohort, Delivery, DeliveryStatus, Learner
from campaign.proof.database import DEFAULT_POSTGRES_URL as DEFAULT_POSTGRES_URL
from campaign.proof.database import fresh_database as fresh_database
from campaign.publishing import publish_journey
from campaign.queues import QueueName
from campaign.redis_server import EmbeddedRedis, connect

JOURNEY = """\
journey: bench-engine
title: 引擎基准营
timezone: UTC
days: 3
caps: {automated_1v1_per_day: 1}
milestones:
  awards: {at: "D3 20:00", kind: peak}
  graduation: {at: "D3 20:40", kind: end}
steps:
  # A 1v1 automated message, as most of a camp's sends are: it counts toward the daily cap
  # (one count query), reads today's homework events for its condition, renders the learner's
  # and the advisor's names. catch_up: a learner enrolled after D-1 00:00 gets it at once.
  - key: reminder
    title: 今日提醒
    at: "D-1 00:00"
    catch_up: true
    channel: wecom
    quiet_hours: exempt
    when: {not: {event: homework_submitted, within: today}}
    template: "{{ learner.name }},今天的小课已解锁:{{ links.homework }}(班主任 {{ advisor.name }})"
"""
STEP = "reminder"
LINKS = {"homework": "https://example.com/camp/today", "group": "", "live": ""}
CHANNELS = {"log": {"path": "/dev/null", "logger": False}, "wecom": "log"}
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)
NEAR_THE_END = 0.05  # share of rows still open below which the harness looks every 50 ms
ENROLL_CHUNK = 2000  # learners per enroll() call: one transaction, a few bulk INSERTs


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def private_redis(url: str | None, folder: Path) -> Iterator[str]:
    """Yield a Redis URL: ``url`` if given, else an embedded server stopped afterwards."""
    if url:
        yield url
        return
    embedded = EmbeddedRedis(folder / "redis" / "bench.rdb")
    try:
        yield embedded.start()
    finally:
        embedded.stop()


@dataclass
class Bench:
    """The shared state of one benchmark run."""

    url: str
    redis_url: str
    folder: Path
    workers: int
    settings: dict[str, Any]
    sessions: sessionmaker[Session] = field(init=False)
    redis: Redis = field(init=False)
    advisors: list[int] = field(default_factory=list)
    processes: list[EngineProcess] = field(default_factory=list)
    learners_made: int = 0
    stops: list[str] = field(default_factory=list)  # what the dispatchers said when stopped
    analyze: bool = False  # ANALYZE after planning (what autovacuum would do, when it is off)

    def __post_init__(self) -> None:
        self.sessions = make_sessionmaker(make_engine(self.url))
        self.redis = connect(self.redis_url)

    @property
    def env(self) -> dict[str, str]:
        """The environment of the engine processes: every setting as ``CAMPAIGN_<KEY>``."""
        values = {
            "DATABASE_URL": self.url,
            "REDIS_URL": self.redis_url,
            "INSTANCE_PATH": str(self.folder / "instance"),
            "CHANNELS": json.dumps(CHANNELS),
            "LINKS": json.dumps(LINKS),
        } | {k: str(v) for k, v in self.settings.items()}
        return child_env(values)

    def publish(self) -> None:
        with self.sessions() as session:
            publish_journey(session, JOURNEY, "bench-engine.yaml")
            advisors = [Advisor(name=name) for name in ("王芳", "李静", "陈晨")]
            session.add_all(advisors)
            session.flush()
            self.advisors = [a.id for a in advisors]
            session.commit()

    def learners(self, count: int) -> list[int]:
        """Insert ``count`` new learners in bulk and return their ids (not timed anywhere)."""
        first = self.learners_made
        self.learners_made += count
        rows = [
            {"external_id": f"bench-{n}", "name": f"学员{n}", "timezone": "Asia/Shanghai"}
            for n in range(first, first + count)
        ]
        ids: list[int] = []
        with self.sessions() as session:
            for start_at in range(0, len(rows), 10_000):
                chunk = rows[start_at : start_at + 10_000]
                ids += session.scalars(insert(Learner).returning(Learner.id), chunk).all()
            session.commit()
        return ids

    def cohort(self, starts_on: date) -> int:
        """Open a cohort of the bench journey; D1 ``starts_on`` decides when the step is due."""
        with self.sessions() as session:
            cohort = open_cohort(session, "bench-engine", starts_on, title=f"bench {uuid.uuid4()}")
            session.commit()
            return cohort.id

    def enroll(self, cohort_id: int, learner_ids: Sequence[int], *, label: str = "") -> None:
        """Enroll learners through the engine's planner, in chunks (each its own transaction)."""
        for start_at in range(0, len(learner_ids), ENROLL_CHUNK):
            chunk = learner_ids[start_at : start_at + ENROLL_CHUNK]
            with self.sessions() as session:
                cohort = session.get(Cohort, cohort_id)
                assert cohort is not None
                entries = [
                    NewEnrollment(lid, self.advisors[lid % len(self.advisors)]) for lid in chunk
                ]
                enroll(session, cohort, entries, now=datetime.now(UTC))
                session.commit()
            if label and (start_at // ENROLL_CHUNK) % 10 == 9:
                progress(f"  {label}: enrolled {start_at + len(chunk):,}/{len(learner_ids):,}")
        if self.analyze:
            self.refresh_statistics()

    def autovacuum_is_off(self) -> bool:
        """Tell whether PostgreSQL's autovacuum is off (then nothing refreshes statistics)."""
        with self.sessions() as session:
            if session.get_bind().dialect.name != "postgresql":
                return False
            return str(session.scalar(text("SHOW autovacuum"))) == "off"

    def refresh_statistics(self) -> None:
        """ANALYZE the tables planning fills, as autovacuum would a minute later.

        The planner's choice for the send path's queries depends on these statistics (a
        cohort planned in bulk changes them at once); without them the daily-cap count may
        visit every sent delivery (see docs/benchmarks.md).
        """
        with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                for table in ("deliveries", "enrollments", "learners", "learner_events"):
                    session.execute(text(f"ANALYZE {table}"))
            else:
                session.execute(text("ANALYZE"))
            session.commit()

    def open_rows(self, cohort_id: int) -> int:
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count(Delivery.id)).where(
                        Delivery.cohort_id == cohort_id, Delivery.status.in_(OPEN)
                    )
                )
                or 0
            )

    def statuses(self, cohort_id: int) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(
                select(Delivery.status, Delivery.reason, func.count(Delivery.id))
                .where(Delivery.cohort_id == cohort_id)
                .group_by(Delivery.status, Delivery.reason)
            ).all()
        found: dict[str, int] = {}
        for status, reason, count in rows:
            key = str(status) if status == DeliveryStatus.SENT else f"{status}: {reason}"
            found[key] = found.get(key, 0) + int(count)
        return found

    def wait_done(
        self,
        cohort_id: int,
        total: int,
        *,
        label: str,
        timeout: float,
        done: Callable[[], int] | None = None,
    ) -> float:
        """Wait until none of the cohort's rows is open; return the monotonic time it ended."""
        started = last_report = time.monotonic()
        while True:
            left = done() if done is not None else self.open_rows(cohort_id)
            now = time.monotonic()
            if left == 0:
                return now
            if now - started > timeout:
                raise TimeoutError(f"{label}: {left:,} of {total:,} still open after {timeout:g} s")
            if now - last_report >= 5:
                finished = total - left
                progress(
                    f"  {label}: {finished:,}/{total:,} done, "
                    f"{finished / (now - started):,.0f}/s so far"
                )
                last_report = now
            self.check()
            # Counting the open rows scans them: look often only near the end, so the harness
            # does not take the engine's CPU (polling every 50 ms took a tenth of a core).
            time.sleep(0.05 if left <= total * NEAR_THE_END else 0.25)

    def start_engine(self) -> None:
        """Start one ``campaign dispatcher`` and ``workers`` ``campaign worker`` processes."""
        logs = self.folder / "logs"
        self.processes.append(start("dispatcher", self.env, logs))
        for number in range(1, self.workers + 1):
            self.processes.append(
                start(f"worker-{number}", self.env, logs, ["worker", "--channel", "wecom"])
            )
        self.wait_for_workers()

    def start_processes(self, command: Sequence[str], name: str) -> None:
        """Start ``workers`` processes running ``python -c command`` (the naive workers)."""
        import subprocess

        logs = self.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for number in range(1, self.workers + 1):
            log = logs / f"{name}-{number}.log"
            handle = open(log, "wb")  # noqa: SIM115 - closed by EngineProcess.stop
            process = subprocess.Popen(
                [sys.executable, "-c", *command],
                env=self.env,
                cwd=Path(__file__).resolve().parents[2],
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.processes.append(EngineProcess(f"{name}-{number}", process, log, handle))
        self.wait_for_workers()

    def wait_for_workers(self, timeout: float = 60.0) -> None:
        pids = {p.pid for p in self.processes if "worker" in p.name}
        deadline = time.monotonic() + timeout
        while not pids <= {w.pid for w in Worker.all(connection=self.redis)}:
            self.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers did not register within {timeout:g} s")
            time.sleep(0.05)

    def check(self) -> None:
        for one in self.processes:
            if one.process.poll() is not None:
                raise RuntimeError(f"{one.name} exited ({one.process.returncode}):\n{one.tail()}")

    def stop_processes(self) -> None:
        """Stop every process (dispatcher first), keeping what the dispatcher said on exit."""
        for one in self.processes:
            one.stop()
            if one.name == "dispatcher":
                self.stops.append(one.tail(3))
        self.processes.clear()

    def idle(self, timeout: float = 600.0) -> None:
        """Wait until the send queue is empty and no worker is busy."""
        queue = Queue(str(QueueName.WECOM), connection=self.redis)
        deadline = time.monotonic() + timeout
        while queue.count or any(
            w.get_state() == "busy" for w in Worker.all(connection=self.redis)
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("the workers did not go idle")
            time.sleep(0.1)


def dispatcher_stats(stops: list[str]) -> dict[str, int]:
    """Sum what the dispatchers said on exit: rows queued, jobs, rows the sweeper took back."""
    found = {"queued": 0, "jobs": 0, "reclaimed": 0}
    for line in stops:
        for match in re.finditer(
            r"(\d+) deliveries queued in (\d+) batches; (\d+) reclaimed", line
        ):
            found["queued"] += int(match[1])
            found["jobs"] += int(match[2])
            found["reclaimed"] += int(match[3])
    return found


def days_from_today(days: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)
