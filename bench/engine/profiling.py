"""Where a send's time goes: one batch sent in this process under cProfile, statements counted.

The worker processes cannot be profiled from here, so this runs the worker's own function
(``send_batch``) on a freshly claimed batch in-process, with the same channel settings, and
counts the SQL statements and round trips (BEGIN/COMMIT included) each delivery costs.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from bench.engine.fixture import CHANNELS, LINKS, Bench, days_from_today, progress
from campaign.clock import SystemClock
from campaign.messages.channels.registry import build_channels
from campaign.messages.dispatch import claim_due
from campaign.messages.sending import send_batch
from campaign.messages.settings import SendSettings


def _claimed(bench: Bench, size: int, clock: SystemClock) -> list[Any]:
    """Plan ``size`` due deliveries for new learners and claim them as one batch."""
    bench.enroll(bench.cohort(days_from_today(1)), bench.learners(size))
    with bench.sessions() as session:
        batches = claim_due(
            session, now=clock.now(), limit=size, lease=timedelta(minutes=10), job_size=size
        )
        session.commit()
    return batches


def _send(bench: Bench, batches: list[Any], adapters: Any, clock: SystemClock) -> int:
    sent = 0
    with bench.sessions() as session:
        for batch in batches:
            result = send_batch(
                session,
                list(batch.ids),
                batch.token,
                clock=clock,
                adapters=adapters,
                settings=SendSettings(links=LINKS),
            )
            sent += sum(result.outcomes.values())
    return sent


def profile_batch(
    bench: Bench, size: int = 500, top: int = 30, timed: int | None = None
) -> dict[str, Any]:
    """Send batches of ``size`` due deliveries in-process: one to warm up, ``timed`` timed
    without a profiler (the worker's own cost per row, the database's included), then one
    under cProfile with its statements and commits counted; return the numbers."""
    timed = timed or int(os.environ.get("BENCH_PROFILE_BATCHES", "5"))
    adapters = build_channels({"CHANNELS": CHANNELS})
    clock = SystemClock()
    engine = bench.sessions.kw["bind"]
    _send(bench, _claimed(bench, size, clock), adapters, clock)  # caches, connections
    times, cpu = [], []
    for _ in range(timed):
        batches = _claimed(bench, size, clock)
        started, started_cpu = time.perf_counter(), time.process_time()
        sent = _send(bench, batches, adapters, clock)
        times.append((time.perf_counter() - started) / max(sent, 1))
        cpu.append((time.process_time() - started_cpu) / max(sent, 1))
    per_row, cpu_per_row = sorted(times)[timed // 2], sorted(cpu)[timed // 2]
    progress(
        f"profile: {per_row * 1e6:.0f} µs a row ({cpu_per_row * 1e6:.0f} µs of it the worker's"
        f" CPU), median of {timed} batches of {size}"
    )
    statements = commits = 0

    def count(*args: Any) -> None:
        nonlocal statements
        statements += 1

    def count_commit(*args: Any) -> None:
        nonlocal commits
        commits += 1

    batches = _claimed(bench, size, clock)
    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", count_commit)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    try:
        profiler.enable()
        sent = _send(bench, batches, adapters, clock)
        profiler.disable()
    finally:
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "commit", count_commit)
    seconds = time.perf_counter() - started
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    progress(f"profile: {sent} rows in {seconds:.2f} s (under cProfile)")
    return {
        "rows": sent,
        "microseconds_per_row": round(per_row * 1e6, 1),
        "worker_cpu_microseconds_per_row": round(cpu_per_row * 1e6, 1),
        "seconds_profiled": seconds,
        "statements_per_row": statements / max(sent, 1),
        "commits_per_row": commits / max(sent, 1),
        "report": text.getvalue(),
    }
