"""Where a send's time goes: one batch sent in this process under cProfile, statements counted.

The worker processes cannot be profiled from here, so this runs the worker's own function
(``send_batch``) on a freshly claimed batch in-process, with the same channel settings, and
counts the SQL statements and round trips (BEGIN/COMMIT included) each delivery costs.
"""

from __future__ import annotations

import cProfile
import io
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


def profile_batch(bench: Bench, size: int = 500, top: int = 30) -> dict[str, Any]:
    """Send one batch of ``size`` due deliveries in-process under cProfile; return the stats."""
    learners = bench.learners(size)
    cohort = bench.cohort(days_from_today(1))
    bench.enroll(cohort, learners)
    adapters = build_channels({"CHANNELS": CHANNELS})
    clock = SystemClock()
    engine = bench.sessions.kw["bind"]
    statements = 0

    def count(*args: Any) -> None:
        nonlocal statements
        statements += 1

    with bench.sessions() as session:
        batches = claim_due(
            session, now=clock.now(), limit=size, lease=timedelta(minutes=10), job_size=size
        )
        session.commit()
    commits = 0

    def count_commit(*args: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", count_commit)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    sent = 0
    try:
        with bench.sessions() as session:
            profiler.enable()
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
        "seconds_profiled": seconds,
        "statements_per_row": statements / max(sent, 1),
        "commits_per_row": commits / max(sent, 1),
        "report": text.getvalue(),
    }
