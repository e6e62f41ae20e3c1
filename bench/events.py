"""Event ingestion speed: events per second in batches of 1,000, on PostgreSQL.

Run from the repository root: ``python -m bench.events`` (``--quick`` for a smoke run).

What it measures, in one run on one fresh PostgreSQL schema, each in batches of 1,000 events
of the same mix (check-ins, homework, live attendance, group joins, replies with text,
survey answers, deposits, payments):

1. **API**: ``POST /api/events`` through the Flask test client (the whole request: bearer key
   check, marshmallow validation item by item, learner lookup, ``ingest_event`` with every
   effect: planning of ``on:`` steps, tag rules, points, offers, reply tasks), one request and
   one transaction per batch. No network: the test client calls the WSGI app in process.
2. **Service**: ``campaign.events.ingest_event`` called directly for the same kind of rows, one
   transaction per batch: the API's cost is the difference.
3. **Baseline**: a raw multi-row ``INSERT`` of the same rows into ``learner_events`` (SQLAlchemy
   Core, one statement per batch): the floor for storing an event at all.

Besides wall time it records the benchmark process's CPU time per event (the Python side:
Flask, marshmallow, the ORM, the effects), which a busy machine inflates far less than wall
time; the database server's own time is not in it.

Progress goes to stderr, the summary to stdout, raw numbers to ``bench/results/events.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, make_url, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
EXAMPLE = ROOT / "examples" / "python-camp" / "journey.yaml"
FALLBACK = ROOT / "tests" / "data" / "sample-journey.yaml"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 1000
MIX = (  # (event, weight, payload)
    ("checked_in", 30, {}),
    ("homework_submitted", 20, {}),
    ("attended_live", 15, {}),
    ("joined_group", 10, {}),
    ("replied", 10, {"text": "老师,正式课多少钱?怎么报名"}),
    ("survey_answered", 8, {"question": "goal", "answer": "A"}),
    ("deposit_paid", 4, {"amount": 200}),
    ("paid", 3, {"amount": 1999}),
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def server_url() -> str:
    return (
        os.environ.get("CAMPAIGN_BENCH_POSTGRES_URL")
        or os.environ.get("CAMPAIGN_TEST_POSTGRES_URL")
        or DEFAULT_URL
    )


@contextmanager
def fresh_schema(keep: bool = False) -> Iterator[str]:
    """Yield the URL of a new, migrated PostgreSQL schema; drop it afterwards."""
    from campaign import migrations
    from campaign.db import make_engine

    base = server_url()
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        progress(f"schema {schema} on {migrations.display_url(base)}: migrating")
        migrations.upgrade(rendered)
        yield rendered
    finally:
        if not keep:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def journey_text() -> tuple[str, str]:
    """Return the journey to run (the example camp, else the test sample) and its name."""
    from campaign.journeys.findings import has_errors
    from campaign.journeys.lint import lint_text

    for path in (EXAMPLE, FALLBACK):
        if path.exists():
            source = path.read_text(encoding="utf-8")
            result = lint_text(source, path.name)
            if result.spec is not None and not has_errors(result.findings):
                return source, str(path.relative_to(ROOT))
    raise SystemExit("no journey that lints: examples/python-camp/journey.yaml is broken")


def setup_camp(session: Session, learners: int, starts_on: date) -> tuple[int, list[int], str]:
    """Publish the journey, open a cohort, enroll ``learners``; return cohort, ids, journey."""
    from campaign.cohorts import open_cohort
    from campaign.messages.planning import NewEnrollment, enroll
    from campaign.models import Learner
    from campaign.publishing import publish_journey

    source, name = journey_text()
    version, _ = publish_journey(session, source, name)
    cohort = open_cohort(session, version.journey.key, starts_on)
    rows = [{"external_id": f"bench-{i}", "name": f"学员{i}"} for i in range(learners)]
    session.execute(insert(Learner), rows)
    ids = [row.id for row in session.query(Learner.id).order_by(Learner.id)]
    progress(f"  enrolling {learners} learners (plans their deliveries)")
    for start in range(0, len(ids), 1000):
        entries = [NewEnrollment(i) for i in ids[start : start + 1000]]
        enroll(session, cohort, entries, now=datetime.combine(starts_on, datetime.min.time(), UTC))
    session.commit()
    return cohort.id, ids, name


def make_events(
    count: int, learners: list[str], start: datetime, seed: int, tag: str
) -> list[dict[str, Any]]:
    """Return ``count`` API-shaped events of the mix, spread over the camp's days."""
    rng = random.Random(seed)
    names = [m[0] for m in MIX]
    weights = [m[1] for m in MIX]
    payloads = {m[0]: m[2] for m in MIX}
    events = []
    for i in range(count):
        name = rng.choices(names, weights)[0]
        events.append(
            {
                "event_id": f"{tag}-{i}",
                "learner": rng.choice(learners),
                "type": name,
                "occurred_at": (start + timedelta(minutes=rng.randrange(7 * 1440))).isoformat(),
                "payload": dict(payloads[name]),
            }
        )
    return events


def batches(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def timed(name: str, action: Callable[[list[Any]], None], items: list[Any]) -> dict[str, Any]:
    """Run ``action`` on each batch; return per-batch seconds and the overall events/s."""
    seconds = []
    cpu_begin = time.process_time()
    for number, batch in enumerate(batches(items), 1):
        begin = time.perf_counter()
        action(batch)
        seconds.append(time.perf_counter() - begin)
        progress(f"  {name}: batch {number} {len(batch) / seconds[-1]:,.0f} events/s")
    total = sum(seconds)
    cpu = time.process_time() - cpu_begin
    return {
        "name": name,
        "events": len(items),
        "batches": len(seconds),
        "seconds": total,
        "events_per_second": len(items) / total,
        "client_cpu_ms_per_event": 1000 * cpu / len(items),
        "median_batch_seconds": statistics.median(seconds),
        "batch_seconds": seconds,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from campaign import create_app
    from campaign.apikeys import create_key
    from campaign.db import database
    from campaign.events import ingest_event
    from campaign.models import LearnerEvent

    starts_on = date.today() - timedelta(days=9)  # the camp is over: no event is in the future
    start = datetime.combine(starts_on, datetime.min.time(), UTC)
    with fresh_schema(args.keep) as url:
        app = create_app({"DATABASE_URL": url, "TESTING": True})
        db = database(app)
        session = db.sessionmaker()
        progress(f"setup: {args.learners} learners")
        cohort_id, ids, journey = setup_camp(session, args.learners, starts_on)
        token = create_key(session, "bench", ["events:write"], now=datetime.now(UTC)).token
        session.commit()
        externals = [f"bench-{i}" for i in range(args.learners)]
        by_external = dict(zip(externals, ids, strict=True))
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def post(batch: list[dict[str, Any]]) -> None:
            response = client.post("/api/events", json={"events": batch}, headers=headers)
            body = response.get_json()
            if response.status_code != 200 or body.get("accepted") != len(batch):
                raise SystemExit(f"the API refused events: {response.status_code} {body}"[:2000])

        def service(batch: list[dict[str, Any]]) -> None:
            for item in batch:
                ingest_event(
                    session,
                    learner_id=by_external[item["learner"]],
                    name=item["type"],
                    occurred_at=datetime.fromisoformat(item["occurred_at"]),
                    now=datetime.now(UTC),
                    external_id=item["event_id"],
                    payload=item["payload"] or None,
                )
            session.commit()

        def raw(batch: list[dict[str, Any]]) -> None:
            now = datetime.now(UTC)
            rows = [
                {
                    "learner_id": by_external[item["learner"]],
                    "enrollment_id": None,
                    "name": item["type"],
                    "occurred_at": datetime.fromisoformat(item["occurred_at"]),
                    "external_id": item["event_id"],
                    "source": "api",
                    "payload": item["payload"] or None,
                    "recorded_at": now,
                }
                for item in batch
            ]
            session.execute(insert(LearnerEvent), rows)
            session.commit()

        results = []
        for name, action, tag in (("api", post, "api"), ("service", service, "svc")):
            events = make_events(args.events, externals, start, args.seed, tag)
            progress(f"{name}: {len(events)} events")
            results.append(timed(name, action, events))
        events = make_events(args.events, externals, start, args.seed, "raw")
        progress(f"baseline raw INSERT: {len(events)} events")
        results.append(timed("raw INSERT (baseline)", raw, events))
        session.close()
        db.engine.dispose()
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "PostgreSQL " + _server_version(),
        "journey": journey,
        "cohort_id": cohort_id,
        "learners": args.learners,
        "machine": machine(),
        "results": results,
    }


def _server_version() -> str:
    from campaign.db import make_engine

    engine = make_engine(server_url())
    with engine.connect() as connection:
        version = str(connection.execute(text("SHOW server_version")).scalar())
    engine.dispose()
    return version


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events per measurement")
    parser.add_argument("--learners", type=int, default=2_000, help="learners in the cohort")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="3,000 events, 300 learners")
    parser.add_argument("--keep", action="store_true", help="keep the schema for a look")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.learners = 3_000, 300
    report = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "events.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    base = report["results"][-1]["events_per_second"]
    print(f"{report['database']}, {report['learners']} learners, batches of {BATCH}")
    for result in report["results"]:
        ratio = base / result["events_per_second"]
        print(
            f"{result['name']:<24} {result['events_per_second']:>10,.0f} events/s  "
            f"median batch {result['median_batch_seconds']:.3f} s  "
            f"client CPU {result['client_cpu_ms_per_event']:.2f} ms/event  "
            f"({ratio:.1f}x the baseline's time)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
