"""Request the console's pages through the real Flask app, signed in as advisors, and time them.

Each advisor signs in through the login form with its CSRF token, as a browser does (one test
client, one cookie jar, per advisor). A request is timed from ``client.get`` until the whole
response body is built: sign-in check, queries, template rendering. The app's engine counts
the SQL statements and the time spent in them, per request.
"""

from __future__ import annotations

import gc
import math
import random
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from bench.console.seed import PASSWORD, Seeded, progress, sample_enrollment

TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')
PAGES = {
    "tasks": "advisor task queue (/advisor/tasks)",
    "learner": "learner page (/advisor/learners/<id>)",
}


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile (``share`` in 0..1) of ``values``."""
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass
class PageTimes:
    """The samples of one page at one size."""

    page: str
    ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # table rows on the page (tasks, timeline)
    gc_ms: list[float] = field(default_factory=list)  # in Python's garbage collector
    full_gc: int = 0  # requests during which a full (generation 2) collection ran
    advisors: set[int] = field(default_factory=set)
    subjects: set[int] = field(default_factory=set)  # distinct advisors or enrollments asked for

    def summary(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "what": PAGES[self.page],
            "samples": len(self.ms),
            "distinct_advisors": len(self.advisors),
            "distinct_subjects": len(self.subjects),
            "p50_ms": percentile(self.ms, 0.50),
            "p95_ms": percentile(self.ms, 0.95),
            "max_ms": max(self.ms),
            "mean_ms": statistics.fmean(self.ms),
            "sql_p50_ms": percentile(self.sql_ms, 0.50),
            "sql_p95_ms": percentile(self.sql_ms, 0.95),
            "statements_p50": percentile([float(s) for s in self.statements], 0.50),
            "rows_p50": percentile([float(r) for r in self.rows], 0.50),
            "gc_p95_ms": percentile(self.gc_ms, 0.95),
            "gc_max_ms": max(self.gc_ms),
            "requests_with_full_gc": self.full_gc,
            "rows_max": max(self.rows),
            "raw_ms": [round(v, 3) for v in self.ms],
        }


class SqlMeter:
    """Count statements and the time spent in them on the app's engine, and the time spent in
    Python's garbage collector (a full collection can take longer than a whole request)."""

    def __init__(self, engine: Any) -> None:
        self.statements = 0
        self.seconds = 0.0
        self.gc_seconds = 0.0
        self.full_gc = 0
        self._started: list[float] = []
        self._gc_started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        gc.callbacks.append(self._collecting)

    def close(self) -> None:
        gc.callbacks.remove(self._collecting)

    def _collecting(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        self.gc_seconds += time.perf_counter() - self._gc_started
        self.full_gc += info.get("generation") == 2

    def _before(self, *args: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, *args: Any) -> None:
        self.seconds += time.perf_counter() - self._started.pop()
        self.statements += 1

    def reset(self) -> None:
        self.statements, self.seconds = 0, 0.0
        self.gc_seconds, self.full_gc = 0.0, 0


@contextmanager
def console_app(url: str) -> Iterator[Flask]:
    """Yield the real app on ``url``, its instance folder private to the run."""
    from campaign import create_app
    from campaign.db import database

    with tempfile.TemporaryDirectory(prefix="bench-console-") as folder:
        # Plain HTTP between the test client and the app: cookies may not be Secure-only.
        app = create_app({"DATABASE_URL": url, "SECURE_COOKIES": False}, instance_path=folder)
        try:
            yield app
        finally:
            database(app).engine.dispose()


def sign_in(app: Flask, advisor_id: int) -> FlaskClient:
    """Return a client signed in as the user of ``advisor_id``, through the login form."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    match = TOKEN.search(page)
    if match is None:
        raise RuntimeError("the login page carries no CSRF token")
    answer = client.post(
        "/login",
        data={"username": f"advisor{advisor_id}", "password": PASSWORD, "csrf_token": match[1]},
    )
    if answer.status_code != 302 or "/advisor/tasks" not in answer.headers.get("Location", ""):
        raise RuntimeError(f"advisor{advisor_id} could not sign in ({answer.status_code})")
    return client


def fetch(client: FlaskClient, path: str, meter: SqlMeter) -> tuple[float, str]:
    """GET ``path``: return wall ms and the page (a non-200 is an error); ``meter`` has the rest."""
    meter.reset()
    start = time.perf_counter()
    response = client.get(path)
    body = response.get_data(as_text=True)
    took = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    return took, body


@dataclass
class Target:
    """One seeded schema to measure: its app, signed-in advisors and the samples so far."""

    label: str
    seeded: Seeded
    app: Flask
    meter: SqlMeter
    rng: random.Random
    pool: list[int]
    clients: dict[int, FlaskClient] = field(default_factory=dict)
    signed_in: float = 0.0
    times: dict[str, PageTimes] = field(default_factory=dict)

    def path(self, page: str, advisor: int) -> tuple[str, int]:
        """Return the URL to ask for and its subject (the advisor, or the enrollment)."""
        if page == "tasks":
            return "/advisor/tasks", advisor
        per_advisor = max(self.seeded.enrollments // self.seeded.advisors, 1)
        while True:
            number = sample_enrollment(
                advisor,
                self.rng.randrange(per_advisor),
                self.seeded.enrollments,
                self.seeded.advisors,
            )
            if number is not None:
                return f"/advisor/learners/{number}", number


ROW_MARKERS = {"tasks": "data-task=", "learner": "data-delivery="}


def measure(
    schemas: list[tuple[str, str, Seeded]], *, samples: int, warmup: int, seed: int
) -> list[dict[str, Any]]:
    """Time both pages ``samples`` times each (after ``warmup``) over many advisors.

    ``schemas`` are (label, URL, what was seeded). With several, their requests alternate one
    by one, so a change in the machine's load falls on every size alike.
    """
    from campaign.db import database

    with ExitStack() as stack:
        targets = []
        for label, url, seeded in schemas:
            rng = random.Random(seed)
            pool = rng.sample(range(1, seeded.advisors + 1), min(seeded.advisors, samples + warmup))
            app = stack.enter_context(console_app(url))
            meter = SqlMeter(database(app).engine)
            stack.callback(meter.close)
            target = Target(label, seeded, app, meter, rng, pool)
            begin = time.perf_counter()
            target.clients = {advisor: sign_in(app, advisor) for advisor in pool}
            target.signed_in = time.perf_counter() - begin
            progress(f"  {label}: {len(pool)} advisors signed in ({target.signed_in:.1f} s)")
            targets.append(target)
        for page, marker in ROW_MARKERS.items():
            for target in targets:
                target.times[page] = PageTimes(page)
            for n in range(warmup + samples):
                for target in targets:
                    advisor = target.pool[n % len(target.pool)]
                    path, subject = target.path(page, advisor)
                    took, body = fetch(target.clients[advisor], path, target.meter)
                    if n < warmup:
                        continue
                    times, meter = target.times[page], target.meter
                    times.ms.append(took)
                    times.sql_ms.append(meter.seconds * 1000)
                    times.statements.append(meter.statements)
                    times.gc_ms.append(meter.gc_seconds * 1000)
                    times.full_gc += meter.full_gc > 0
                    times.rows.append(body.count(marker))
                    times.advisors.add(advisor)
                    times.subjects.add(subject)
            for target in targets:
                summary = target.times[page].summary()
                progress(
                    f"  {target.label}: {page}: p50 {summary['p50_ms']:.1f} ms, "
                    f"p95 {summary['p95_ms']:.1f} ms, max {summary['max_ms']:.1f} ms "
                    f"({samples} samples, {warmup} warm-up)"
                )
        return [
            {
                "signed_in_seconds": round(target.signed_in, 1),
                "advisors_sampled": len(target.pool),
                "pages": {page: times.summary() for page, times in target.times.items()},
            }
            for target in targets
        ]
