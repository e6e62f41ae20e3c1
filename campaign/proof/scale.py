"""A million learners: plan 15 deliveries each, drain a day of them, measure what grows.

One run (``campaign bench scale --learners N``), for each size asked:

1. a fresh PostgreSQL schema, migrated; a private embedded Redis;
2. the camp of :mod:`campaign.proof.scale_camp`: N learners and N/500 advisors inserted
   set-based, then **planning**: every learner enrolled through the engine's ``enroll()`` in
   chunks of 2,000 (timed: the plan time), 15·N + 7 rows; then ``ANALYZE`` (this server may run
   without autovacuum; timed apart);
3. **a day**: one ``UPDATE`` makes every row of camp day D1 (3 per learner: the morning
   lesson, the homework reminder, the advisor's call, and the group post) due now, as if the
   day's send times had all come while the engine was stopped; then 1 ``campaign dispatcher``
   and ``workers`` × ``campaign worker`` (stock processes, configured by ``CAMPAIGN_*``) drain
   it. The clock starts when the dispatcher is started (the workers are up already) and stops
   when no row of the day is pending, claimed or sending;
4. meanwhile, every second: the processes' resident memory (``/proc``: ``VmRSS``, ``VmHWM``)
   and Redis's ``used_memory``; every job's ``enqueued_at`` (queue wait = enqueued − start);
5. **dispatch lag** with the whole schedule in place: rows of D2 fall due one after another at
   ``probe_rate`` a second; lag = their job's ``enqueued_at`` − their ``due_at``;
6. with the engine stopped, in the same schema: the schema's size, **the raw PostgreSQL row
   update rate** on ``deliveries`` (set-based and one row per statement) and **the naive
   baseline** (``bench/engine/naive.py``: one RQ job per message, ``naive`` messages).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rq import Worker
from sqlalchemy import make_url, text

from campaign.db import make_engine, make_sessionmaker
from campaign.proof import scale_camp
from campaign.proof.database import DEFAULT_POSTGRES_URL, fresh_database, schema_of
from campaign.proof.fleet import Fleet
from campaign.proof.scale_measure import (
    MB,
    JobTimes,
    Sampler,
    load,
    machine,
    percentile,
    raw_update_rates,
    redis_contents,
    schema_size,
    weighted_percentile,
)
from campaign.proof.scale_report import dispatcher_totals, half_rates, ratios, rss_summary
from campaign.redis_server import EmbeddedRedis, connect

OPEN = ("pending", "claimed", "sending")
ROOT = Path(__file__).resolve().parents[2]  # the source tree (bench/ lives there)


def echo_err(message: str) -> None:
    click.echo(message, err=True)


@dataclass
class ScaleConfig:
    learners: int = 1_000_000
    workers: int = 4
    postgres_url: str = DEFAULT_POSTGRES_URL
    keep: bool = False  # keep the schema
    tick: float = 0.1  # DISPATCH_TICK_SECONDS (the engine's default is 1.0)
    probe_rate: float = 100.0  # rows a second falling due in the lag probe
    probe_seconds: float = 20.0
    naive: int = 5_000  # messages of the naive baseline (0: skip it)
    raw_rows: int = 100_000  # rows of the set-based raw update
    raw_single: int = 2_000  # rows updated one statement each
    deadline: float | None = None  # seconds the drain may take
    echo: Callable[[str], None] = field(default=echo_err, repr=False)

    def drain_deadline(self, rows: int) -> float:
        return self.deadline if self.deadline is not None else max(600.0, rows / 20)


class _Run:
    def __init__(self, config: ScaleConfig, url: str, folder: Path, redis_url: str) -> None:
        self.config = config
        self.url = url
        self.folder = folder
        self.redis_url = redis_url
        self.redis = connect(redis_url)
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.echo = config.echo
        self.result: dict[str, Any] = {"learners": config.learners, "workers": config.workers}
        self.fleets: list[Fleet] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
        settings = {
            "DATABASE_URL": self.url,
            "REDIS_URL": self.redis_url,
            "INSTANCE_PATH": str(self.folder / "instance"),
            "CHANNELS": json.dumps(scale_camp.CHANNELS),
            "LINKS": json.dumps(scale_camp.LINKS),
            "DISPATCH_TICK_SECONDS": self.config.tick,
        }
        env.update({f"CAMPAIGN_{k}": str(v) for k, v in settings.items()})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def open_rows(self, horizon: datetime) -> int:
        """Rows of the drained day still open (deferrals stay before the next day's rows)."""
        return int(
            self.scalar(
                "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'claimed',"
                " 'sending') AND due_at < :horizon",
                horizon=horizon,
            )
        )

    def size(self) -> dict[str, Any]:
        schema = schema_of(self.url)
        assert schema is not None
        return schema_size(self.engine, schema)

    # --- the phases --------------------------------------------------------------------------

    def prepare(self) -> scale_camp.Camp:
        config, echo = self.config, self.echo
        now = datetime.now(UTC)
        started = time.perf_counter()
        camp = scale_camp.set_up(self.sessions, config.learners, now=now)
        self.result["setup_s"] = time.perf_counter() - started
        echo(f"scale: {config.learners:,} learners, {camp.advisors:,} advisors inserted")
        seconds, tenths = scale_camp.plan(self.sessions, camp, now=now, echo=echo)
        planned = int(self.scalar("SELECT count(*) FROM deliveries"))
        self.result["plan"] = {
            "seconds": seconds,
            "deliveries": planned,
            "rows_per_second": planned / seconds,
            "learners_per_second": config.learners / seconds,
            "chunk": scale_camp.ENROLL_CHUNK,
            "tenths": tenths,
        }
        echo(f"scale: planned {planned:,} deliveries in {seconds:.1f} s")
        camp_events = scale_camp.add_homework(self.sessions, camp, now=now)
        self.result["homework_events"] = camp_events
        self.result["analyze_s"] = scale_camp.analyze(self.engine)
        self.result["database_after_plan"] = self.size()
        self.result["advisors"] = camp.advisors
        return camp

    def start_fleet(self) -> tuple[float, datetime]:
        """Start the workers, wait until they listen, then the dispatcher: the drain's start."""
        logs = self.folder / "logs"
        workers = Fleet(self.env(), logs, dispatchers=0, worker_channels=[[]] * self.config.workers)
        self.fleets.append(workers)
        workers.start()
        pids = workers.pids("worker")
        deadline = time.monotonic() + 120
        while not pids <= {w.pid for w in Worker.all(connection=self.redis)}:
            self.check()
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not register with Redis within 120 s")
            time.sleep(0.1)
        dispatcher = Fleet(self.env(), logs, dispatchers=1, worker_channels=[])
        self.fleets.insert(0, dispatcher)  # stopped first
        started, started_at = time.monotonic(), datetime.now(UTC)
        dispatcher.start()
        return started, started_at

    def check(self) -> None:
        for fleet in self.fleets:
            for member in fleet.members:
                if member.child is not None and not member.child.alive():
                    raise RuntimeError(f"{member.name} exited:\n{member.child.tail()}")

    def drain(self, camp: scale_camp.Camp) -> None:
        config, echo = self.config, self.echo
        horizon = camp.day_window(2)[0]
        moved_at = datetime.now(UTC) - timedelta(seconds=1)
        rows, move_s = scale_camp.make_day_due(self.sessions, camp, 1, now=moved_at)
        analyze_s = scale_camp.analyze(self.engine)
        echo(f"scale: D1 made due: {rows:,} rows in one UPDATE ({move_s:.1f} s); draining")
        started, started_at = self.start_fleet()
        pids = {m.name: m.child.pid for f in self.fleets for m in f.members if m.child}
        sampler = Sampler(self.redis, pids)
        sampler.start()
        jobs = JobTimes(self.redis)
        progress: list[tuple[float, int]] = []  # (seconds, rows done) from SQL
        loads = [load()]
        last_sql = last_line = started
        deadline = started + config.drain_deadline(rows)
        while True:
            self.check()
            queued = jobs.poll()
            now = time.monotonic()
            if queued >= rows or now - last_sql >= 30:
                left = self.open_rows(horizon)
                now, last_sql = time.monotonic(), time.monotonic()
                progress.append((now - started, rows - left))
                if left == 0:
                    break
            if now - last_line >= 10:
                last_line = now
                loads.append(load())
                done = progress[-1][1] if progress else 0
                rss = {k: v // 1024 for k, v in sampler.last_rss_kib.items()}
                echo(
                    f"  {now - started:7.1f} s  queued {queued:,}/{rows:,}, done {done:,} "
                    f"(SQL, {progress[-1][0] if progress else 0:.0f} s); Redis "
                    f"{sampler.redis_used_max / MB:.1f} MB max; RSS MB {rss}; load {loads[-1]}"
                )
            if now > deadline:
                raise TimeoutError(
                    f"the day did not drain within {config.drain_deadline(rows):g} s"
                )
            time.sleep(0.5 if queued >= rows else 2.0)
        ended = time.monotonic()
        jobs.poll()
        seconds = ended - started
        waits = [(max(lag, 0.0), n) for lag, n in jobs.lags(started_at)]
        self.result["day"] = {"rows": rows, "move_s": move_s, "analyze_s": analyze_s}
        self.result["drain"] = {
            "rows": rows,
            "seconds": seconds,
            "per_second": rows / seconds,
            "jobs": len(jobs.by_job),
            "rows_in_jobs": sum(n for _, n in waits),
            "queue_wait_p50_s": weighted_percentile(waits, 0.5) if waits else None,
            "queue_wait_p99_s": weighted_percentile(waits, 0.99) if waits else None,
            "progress": progress,
            "load": {"min": min(loads), "max": max([*loads, load()])},
        }
        self.result["drain"]["jobs_by_queue"] = jobs.summary()
        half = half_rates(progress)
        if half:
            self.result["drain"]["rate_first_half"], self.result["drain"]["rate_second_half"] = half
        echo(f"scale: drained {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f}/s)")
        self.result["lag"] = self.probe(camp, jobs)
        sampler.finish()
        words = [w for f in self.fleets for w in f.stop()]
        self.fleets.clear()
        self.result["dispatcher"] = dispatcher_totals(words)
        self.result["rss"] = rss_summary(sampler)
        info = self.redis.info("memory")
        self.result["redis"] = {
            "used_max_mb": sampler.redis_used_max / MB,
            "peak_mb": int(info["used_memory_peak"]) / MB,
            "used_after_mb": int(info["used_memory"]) / MB,
            "keys": int(self.redis.dbsize()),
            "contents": redis_contents(self.redis),
        }
        self.result["samples"] = sampler.samples[:: max(1, len(sampler.samples) // 200)]
        self.outcomes(camp, moved_at)

    def probe(self, camp: scale_camp.Camp, drained: JobTimes) -> dict[str, Any]:
        """Rows of D2 fall due one every 1/rate s; lag = their job's enqueue − due."""
        config = self.config
        start, end = camp.day_window(2)
        count = int(config.probe_rate * config.probe_seconds)
        with self.engine.connect() as connection:
            ids = list(
                connection.execute(
                    text(
                        "SELECT id FROM deliveries WHERE status = 'pending' AND due_at >= :s"
                        " AND due_at < :e AND step_key = 'morning' ORDER BY id LIMIT :n"
                    ),
                    {"s": start, "e": end, "n": count},
                ).scalars()
            )
            first_due = datetime.now(UTC) + timedelta(seconds=3)
            due = {
                i: first_due + timedelta(seconds=n / config.probe_rate) for n, i in enumerate(ids)
            }
            connection.execute(
                text("UPDATE deliveries SET due_at = :due, planned_at = :due WHERE id = :id"),
                [{"id": i, "due": at} for i, at in due.items()],
            )
            connection.commit()
        self.echo(f"scale: lag probe: {len(ids):,} rows due at {config.probe_rate:g}/s")
        jobs = JobTimes(self.redis, ids_of=set(ids))
        jobs.seen |= drained.seen
        last_due = max(due.values())
        while datetime.now(UTC) < last_due + timedelta(seconds=3):
            self.check()
            jobs.poll()
            time.sleep(1.0)
        deadline = time.monotonic() + 120
        while len(jobs.first_enqueued) < len(ids) and time.monotonic() < deadline:
            jobs.poll()
            time.sleep(0.5)
        lags = [(jobs.first_enqueued[i] - due[i]).total_seconds() for i in jobs.first_enqueued]
        result: dict[str, Any] = {
            "rows": len(ids),
            "rate": config.probe_rate,
            "enqueued": len(lags),
        }
        if lags:
            result |= {
                "p50_ms": 1000 * percentile(lags, 0.5),
                "p99_ms": 1000 * percentile(lags, 0.99),
                "max_ms": 1000 * max(lags),
            }
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.scalar(
            "SELECT count(*) FROM deliveries WHERE id = ANY(:ids) AND status IN"
            " ('pending', 'claimed', 'sending')",
            ids=ids,
        ):
            time.sleep(0.5)
        return result

    def outcomes(self, camp: scale_camp.Camp, moved_at: datetime) -> None:
        """How the drained day's rows ended (their planned_at is the moment they were made
        due), and the tasks the advisors got."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT status, reason, count(*), count(*) FILTER (WHERE attempts > 1)"
                    " FROM deliveries"
                    " WHERE cohort_id = :c AND planned_at = :moved GROUP BY status, reason"
                ),
                {"c": camp.cohort_id, "moved": moved_at},
            ).all()
            tasks = connection.execute(
                text(
                    "SELECT coalesce(sum(n), 0), coalesce(max(n), 0),"
                    " count(*) FILTER (WHERE n > capacity),"
                    " coalesce(sum(greatest(n - capacity, 0)), 0) FROM"
                    " (SELECT t.advisor_id, count(*) AS n, min(a.daily_task_capacity) AS capacity"
                    " FROM tasks AS t JOIN advisors AS a ON a.id = t.advisor_id"
                    " GROUP BY t.advisor_id) AS per_advisor"
                )
            ).one()
        found: Counter[str] = Counter()
        retried = 0
        for status, reason, count, again in rows:
            key = str(status) if status == "sent" or not reason else f"{status}: {reason}"
            found[key] += int(count)
            retried += int(again)
        drain = self.result["drain"]
        drain["outcomes"] = dict(found.most_common())
        drain["terminal"] = sum(n for k, n in found.items() if k.split(":")[0] not in OPEN)
        drain["all_terminal"] = drain["terminal"] == self.result["day"]["rows"] and not any(
            k.split(":")[0] in OPEN for k in found
        )
        drain["rows_attempted_twice"] = retried
        drain["tasks"] = int(tasks[0])
        drain["max_tasks_per_advisor"] = int(tasks[1])
        drain["advisors_over_capacity"] = int(tasks[2])
        drain["tasks_over_capacity"] = int(tasks[3])

    def baselines(self) -> None:
        config = self.config
        self.result["database_after_drain"] = self.size()
        low, high = (int(v) for v in self.scalar_row("SELECT min(id), max(id) FROM deliveries"))
        count = min(config.raw_rows, max(1, (high - low) // 4))
        single = min(config.raw_single, max(2, (high - low) // 4))
        rng = random.Random(1)
        ids = rng.sample(range(low, high - count), single)
        self.echo(f"scale: raw updates: {count:,} rows set-based, {single:,} one by one")
        self.result["raw"] = raw_update_rates(self.engine, (high - count + 1, high), ids)
        if config.naive:
            self.result["naive"] = self.naive(config.naive)

    def scalar_row(self, sql: str) -> tuple[Any, ...]:
        with self.engine.connect() as connection:
            return tuple(connection.execute(text(sql)).one())

    def naive(self, count: int) -> dict[str, Any]:
        """The naive baseline of the engine benchmark, in this schema, with this Redis."""
        if not (ROOT / "bench" / "engine" / "naive.py").exists():
            self.echo("scale: no naive baseline: bench/engine is in the source tree only")
            return {}
        if str(ROOT) not in sys.path:  # the source tree's bench/ is not installed
            sys.path.append(str(ROOT))
        from bench.engine.fixture import Bench
        from bench.engine.naive import naive

        bench = Bench(self.url, self.redis_url, self.folder, self.config.workers, {})
        try:
            bench.publish()
            return naive(bench, count)
        finally:
            bench.stop_processes()
            bench.sessions.kw["bind"].dispose()

    def stop(self) -> None:
        for fleet in self.fleets:
            fleet.stop()
        self.fleets.clear()
        self.engine.dispose()


def run_scale(config: ScaleConfig) -> dict[str, Any]:
    """Run the scale measurement once at ``config.learners`` and return every number."""
    if make_url(config.postgres_url).get_backend_name() != "postgresql":
        raise click.UsageError("the scale run needs PostgreSQL: give a postgresql+psycopg:// URL")
    folder = Path(tempfile.mkdtemp(prefix="campaign-scale-"))
    began = time.monotonic()
    info = machine() | {"date": datetime.now(UTC).isoformat(timespec="seconds")}
    info["load_start"] = load()
    embedded = EmbeddedRedis(folder / "redis" / "scale.rdb")
    ok = interrupted = False
    schema = None
    try:
        # The schema is kept when the run fails (to look at the rows), dropped below otherwise;
        # an interrupted run drops it too (at a million learners it is several GB).
        with fresh_database(
            "postgresql", config.postgres_url, keep=True, prefix="bench_scale"
        ) as url:
            schema = schema_of(url)
            redis_url = embedded.start()
            run = _Run(config, url, folder, redis_url)
            try:
                info["postgresql"] = str(run.scalar("SHOW server_version"))
                info["autovacuum"] = str(run.scalar("SHOW autovacuum"))
                info["redis"] = run.redis.info("server").get("redis_version")
                camp = run.prepare()
                run.drain(camp)
                run.baselines()
            finally:
                run.stop()
        ok = True
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        embedded.stop()
        if ok or interrupted:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            config.echo(f"scale: logs kept in {folder}, the schema {schema} kept")
        if schema is not None and (ok or interrupted) and not config.keep:
            _drop(config.postgres_url, schema)
    if config.keep:
        info["schema"] = schema
    info["load_end"] = load()
    result = run.result
    result["machine"] = info
    result["total_s"] = time.monotonic() - began
    result["ratios"] = ratios(result)
    return result


def _drop(postgres_url: str, schema: str) -> None:
    admin = make_engine(postgres_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()
