"""What the scale run measures besides the clock: memory, queue times, sizes, raw row updates.

- :class:`Sampler`: a thread that reads every second the resident memory of the engine's
  processes (``/proc/<pid>/status``: ``VmRSS`` now, ``VmHWM`` the peak the kernel kept) and
  Redis's ``INFO memory`` (``used_memory``; ``used_memory_peak`` is Redis's own peak).
- :class:`JobTimes`: when each RQ job was put on a queue (``enqueued_at``) and which rows it
  carried, read from the queues' registries while they still hold the jobs (finished jobs are
  kept for an hour).
- :func:`schema_size`: the bytes of the run's schema (tables, their indexes and TOAST).
- :func:`raw_update_rates`: the floor any engine that records each row starts from: a
  set-based ``UPDATE … WHERE id BETWEEN`` and one ``UPDATE`` (and one commit) per row, on the
  same table, in the same run.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from sqlalchemy import Engine, text

from campaign.queues import QueueName

MB = 1024 * 1024


def percentile(values: list[float], share: float) -> float:
    """Return the ``share`` percentile (nearest rank) of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def weighted_percentile(pairs: list[tuple[float, int]], share: float) -> float:
    """Return the ``share`` percentile (nearest rank) of values given as (value, count)."""
    ordered = sorted(pairs)
    total = sum(count for _, count in ordered)
    rank = max(1, round(share * total))
    seen = 0
    for value, count in ordered:
        seen += count
        if seen >= rank:
            return value
    return ordered[-1][0]


def memory_kib(pid: int) -> tuple[int, int] | None:
    """Return (VmRSS, VmHWM) of ``pid`` in KiB, or None when it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    found = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(rest.split()[0])
    if len(found) < 2:
        return None
    return found["VmRSS"], found["VmHWM"]


class Sampler:
    """Sample the processes' memory and Redis's every ``every`` seconds, in a thread."""

    def __init__(self, redis: Redis, pids: Mapping[str, int], every: float = 1.0) -> None:
        self.redis = redis
        self.pids = dict(pids)  # name -> pid
        self.every = every
        self.samples: list[dict[str, Any]] = []
        self.peak_rss_kib: dict[str, int] = {}  # the largest VmHWM seen
        self.first_rss_kib: dict[str, int] = {}
        self.last_rss_kib: dict[str, int] = {}
        self.redis_used_max = 0
        self.errors = 0
        self._stop = threading.Event()
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="scale-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def sample(self) -> None:
        row: dict[str, Any] = {"t": round(time.monotonic() - self._started_at, 2)}
        for name, pid in self.pids.items():
            found = memory_kib(pid)
            if found is None:
                continue
            rss, hwm = found
            self.first_rss_kib.setdefault(name, rss)
            self.last_rss_kib[name] = rss
            self.peak_rss_kib[name] = max(self.peak_rss_kib.get(name, 0), hwm)
            row[name] = rss
        try:
            used = int(self.redis.info("memory")["used_memory"])
        except Exception:  # a sample lost is no reason to stop the run
            self.errors += 1
        else:
            self.redis_used_max = max(self.redis_used_max, used)
            row["redis"] = used
        self.samples.append(row)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def finish(self) -> None:
        """Take a last sample and stop the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.sample()


def _queues(redis: Redis) -> list[Queue]:
    return [Queue(str(name), connection=redis) for name in QueueName]


class JobTimes:
    """Collect, from the queues and their registries, when each job was first enqueued."""

    def __init__(self, redis: Redis, *, ids_of: set[int] | None = None) -> None:
        self.redis = redis
        self.seen: set[str] = set()
        self.by_job: dict[str, tuple[datetime, int]] = {}  # job id -> (enqueued_at, rows)
        self.ids_of = ids_of  # delivery ids whose own enqueue time is wanted
        self.first_enqueued: dict[int, datetime] = {}

    def skip_existing(self) -> None:
        """Ignore every job queued so far (an earlier phase's)."""
        self.seen |= self._job_ids()

    def _job_ids(self) -> set[str]:
        found: set[str] = set()
        for queue in _queues(self.redis):
            found.update(queue.get_job_ids())
            for registry in (FinishedJobRegistry, StartedJobRegistry, FailedJobRegistry):
                found.update(registry(queue=queue).get_job_ids())
        return found

    def poll(self) -> int:
        """Read the jobs not seen yet; return how many rows the jobs seen so far carry."""
        new = sorted(self._job_ids() - self.seen)
        for start in range(0, len(new), 200):
            chunk = new[start : start + 200]
            for job_id, job in zip(
                chunk, Job.fetch_many(chunk, connection=self.redis), strict=True
            ):
                self.seen.add(job_id)
                if job is None or job.enqueued_at is None or not job.args:
                    continue
                at = job.enqueued_at.replace(tzinfo=UTC)
                ids = list(job.args[0])
                self.by_job[job_id] = (at, len(ids))
                if self.ids_of is not None:
                    for delivery_id in ids:
                        if delivery_id in self.ids_of and (
                            delivery_id not in self.first_enqueued
                            or at < self.first_enqueued[delivery_id]
                        ):
                            self.first_enqueued[delivery_id] = at
        return sum(rows for _, rows in self.by_job.values())

    def summary(self) -> dict[str, Any]:
        """Fetch every job seen again and sum up, per queue: jobs, rows, the longest wait in
        the queue (started - enqueued) and run (ended - started), failures, and the outcomes
        the jobs returned. Jobs RQ no longer keeps (an hour after they finished) are missing.
        """
        found: dict[str, dict[str, Any]] = {}
        missing = 0
        listed = sorted(self.by_job)
        for start in range(0, len(listed), 200):
            chunk = listed[start : start + 200]
            for job in Job.fetch_many(chunk, connection=self.redis):
                if job is None:
                    missing += 1
                    continue
                one = found.setdefault(
                    job.origin,
                    {"jobs": 0, "rows": 0, "failed": 0, "max_wait_s": 0.0, "max_run_s": 0.0,
                     "outcomes": {}, "errors": []},
                )  # fmt: skip
                one["jobs"] += 1
                one["rows"] += len(job.args[0]) if job.args else 0
                if job.enqueued_at and job.started_at:
                    wait = (job.started_at - job.enqueued_at).total_seconds()
                    one["max_wait_s"] = max(one["max_wait_s"], wait)
                if job.started_at and job.ended_at:
                    run = (job.ended_at - job.started_at).total_seconds()
                    one["max_run_s"] = max(one["max_run_s"], run)
                if job.is_failed:
                    one["failed"] += 1
                    if len(one["errors"]) < 3:
                        one["errors"].append((job.exc_info or "").strip().splitlines()[-1:])
                returned = job.return_value() if job.is_finished else None
                if isinstance(returned, dict):
                    for key, count in returned.items():
                        one["outcomes"][key] = one["outcomes"].get(key, 0) + int(count)
        return {"queues": found, "missing": missing}

    def lags(self, due: datetime) -> list[tuple[float, int]]:
        """Return (seconds from ``due`` to the job's enqueue, rows) for every job seen."""
        return [((at - due).total_seconds(), rows) for at, rows in self.by_job.values()]


def redis_contents(redis: Redis, sample: int = 50) -> dict[str, Any]:
    """Count Redis's keys by kind (RQ job hashes, RQ results, the rest) and estimate the
    bytes of each kind from ``MEMORY USAGE`` of up to ``sample`` keys of it."""
    kinds: dict[str, list[bytes]] = {}
    for key in redis.scan_iter(count=1000):
        name = key.decode(errors="replace")
        if name.startswith("rq:job:"):
            kind = "rq:job"
        elif name.startswith("rq:results:"):
            kind = "rq:results"
        else:
            kind = "other"
        kinds.setdefault(kind, []).append(key)
    found: dict[str, Any] = {}
    for kind, keys in kinds.items():
        sizes = [int(redis.memory_usage(k) or 0) for k in keys[:sample]]
        mean = sum(sizes) / len(sizes) if sizes else 0
        found[kind] = {
            "keys": len(keys),
            "mean_bytes": round(mean),
            "est_mb": len(keys) * mean / MB,
        }
    return found


def schema_size(engine: Engine, schema: str) -> dict[str, Any]:
    """Return the bytes of the schema's tables (with indexes and TOAST), in total and the
    largest tables, each as heap and indexes."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT c.relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid),"
                " pg_indexes_size(c.oid), c.reltuples::bigint"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = :schema AND c.relkind = 'r'"
                " ORDER BY 2 DESC"
            ),
            {"schema": schema},
        ).all()
    tables = {
        str(name): {"total": int(total), "heap": int(heap), "indexes": int(indexes)}
        for name, total, heap, indexes, _ in rows
    }
    return {
        "bytes": sum(t["total"] for t in tables.values()),
        "tables": dict(list(tables.items())[:6]),
    }


def raw_update_rates(
    engine: Engine, id_range: tuple[int, int], single_ids: Iterable[int]
) -> dict[str, Any]:
    """Time PostgreSQL updating rows of ``deliveries`` with nothing of the engine around it.

    - set-based: one ``UPDATE deliveries SET updated_at = clock_timestamp() WHERE id BETWEEN
      lo AND hi`` and its commit;
    - one row per statement, each in its own transaction (a commit per row);
    - one row per statement, all in one transaction.
    """
    low, high = id_range
    ids = list(single_ids)
    half = len(ids) // 2
    result: dict[str, Any] = {}
    with engine.connect() as connection:
        started = time.perf_counter()
        updated = connection.execute(
            text(
                "UPDATE deliveries SET updated_at = clock_timestamp() WHERE id BETWEEN :lo AND :hi"
            ),
            {"lo": low, "hi": high},
        ).rowcount
        connection.commit()
        seconds = time.perf_counter() - started
        result["set_based"] = {"rows": updated, "seconds": seconds, "per_second": updated / seconds}
        statement = text("UPDATE deliveries SET updated_at = clock_timestamp() WHERE id = :id")
        started = time.perf_counter()
        for delivery_id in ids[:half]:
            connection.execute(statement, {"id": delivery_id})
            connection.commit()
        seconds = time.perf_counter() - started
        result["row_per_commit"] = {"rows": half, "seconds": seconds, "per_second": half / seconds}
        started = time.perf_counter()
        for delivery_id in ids[half:]:
            connection.execute(statement, {"id": delivery_id})
        connection.commit()
        seconds = time.perf_counter() - started
        rows = len(ids) - half
        result["row_per_statement"] = {
            "rows": rows,
            "seconds": seconds,
            "per_second": rows / seconds,
        }
    return result


def machine() -> dict[str, Any]:
    """Describe the machine and the software the numbers were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory = Path("/proc/meminfo").read_text(encoding="utf-8").split()[1]
    except OSError:
        memory = "0"
    info: dict[str, Any] = {
        "cpu_model": model,
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "packages": {p: version(p) for p in ("rq", "redis", "SQLAlchemy", "psycopg")},
    }
    git = ["git", "-C", str(Path(__file__).resolve().parents[2])]
    try:
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
        info["commit"] = commit.stdout.strip()[:12]
        info["changed_files"] = len(dirty.stdout.splitlines())
    except OSError:
        pass
    return info


def load() -> float:
    return round(os.getloadavg()[0], 2)
