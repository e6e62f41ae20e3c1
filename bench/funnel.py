"""Funnel report time on 100,000 enrollments, on PostgreSQL.

Run from the repository root: ``python -m bench.funnel`` (``--quick``: 10,000 enrollments).

It loads a fresh schema with a synthetic school (``--enrollments`` learners in cohorts of
10,000, two advisors each, with the events, tags, sent deliveries, advisor tasks and
conversions a camp leaves: about 5 events and 4 deliveries per learner), then times
``campaign.offers.funnel.funnel`` for every grouping, each against a baseline measured in the
same run on the same tables:

- stage (per cohort), advisor and tag views against ``SELECT name, count(*) FROM learner_events
  GROUP BY name``: one scan of the event table, the least any funnel over events must read;
- step and variant views against ``SELECT step_key, count(*) FROM deliveries WHERE status =
  'sent' GROUP BY step_key``.

Rows are loaded with ``COPY`` (the load is not what is measured). Each timing is the median of
``--repeat`` runs after one warm-up. Progress on stderr, summary on stdout, raw numbers in
``bench/results/funnel.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from bench.events import RESULTS, fresh_schema, journey_text, machine, progress, server_url

COHORT_SIZE = 10_000
GOALS = ("excel-automation", "data-collection", "data-analysis", "web", "ai-apps", "career-change")
STAGE_ODDS = (  # (event, base probability), drawn against each learner's engagement
    ("joined_group", 0.85),
    ("attended_live", 0.65),
    ("homework_submitted", 0.55),
    ("replied", 0.30),
    ("deposit_paid", 0.08),
    ("paid", 0.10),
    ("refunded", 0.01),
)


def copy_rows(session: Session, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """Load ``rows`` into ``table`` with PostgreSQL COPY.

    Columns come from the first row; other columns with a Python-side default get it (the
    ORM would have filled them); the rest (serial ids) are left to the database.
    """
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return 0
    now = datetime.now(UTC)
    fill: dict[str, Any] = {}
    for column in table.columns:
        if column.name in first or column.default is None:
            continue
        default = column.default
        fill[column.name] = now if getattr(default, "is_callable", False) else default.arg  # type: ignore[attr-defined]
    names = [*first, *fill]
    quoted = ", ".join(f'"{name}"' for name in names)
    raw = session.connection().connection.driver_connection
    count = 0
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
        for row in _chain(first, iterator):
            values = [row.get(name, fill.get(name)) for name in names]
            copy.write_row([v.value if hasattr(v, "value") else v for v in values])
            count += 1
    return count


def _chain(first: dict[str, Any], rest: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    yield first
    yield from rest


def load_school(session: Session, enrollments: int, seed: int) -> dict[str, int]:
    """Load a synthetic school of ``enrollments`` learners; returns rows per table."""
    from campaign.cohorts import open_cohort
    from campaign.models import (
        Advisor,
        Conversion,
        Delivery,
        Enrollment,
        Learner,
        LearnerEvent,
        Tag,
        Task,
    )
    from campaign.publishing import publish_journey

    rng = random.Random(seed)
    source, name = journey_text()
    version, _ = publish_journey(session, source, name)
    cohorts = []
    starts = date(2026, 3, 2)
    for index in range((enrollments + COHORT_SIZE - 1) // COHORT_SIZE):
        cohorts.append(open_cohort(session, version.journey.key, starts + timedelta(weeks=index)))
    advisors = [Advisor(name=f"班主任{i}") for i in range(2 * len(cohorts))]
    session.add_all(advisors)
    session.flush()
    t = {m.__tablename__: m.__table__ for m in (Learner, Enrollment, LearnerEvent, Tag)}
    t |= {m.__tablename__: m.__table__ for m in (Delivery, Task, Conversion)}
    people, places, events, tags, deliveries, tasks, sales = [], [], [], [], [], [], []
    for i in range(1, enrollments + 1):
        cohort = cohorts[(i - 1) // COHORT_SIZE]
        advisor = advisors[2 * ((i - 1) // COHORT_SIZE) + i % 2]
        d1 = datetime.combine(cohort.starts_on, datetime.min.time(), UTC) - timedelta(hours=8)
        people.append({"id": i, "external_id": f"s{i}", "name": f"学员{i}"})
        places.append(
            {
                "id": i,
                "cohort_id": cohort.id,
                "learner_id": i,
                "advisor_id": advisor.id,
                "journey_version_id": version.id,
                "state": "active",
                "enrolled_at": d1 - timedelta(days=2),
            }
        )
        engaged = rng.random()
        paid_at = None
        for day, (event, odds) in enumerate(STAGE_ODDS):
            if rng.random() < odds * (0.5 + engaged):
                at = d1 + timedelta(days=day, hours=rng.randrange(9, 22))
                events.append((i, event, at))
                paid_at = at if event == "paid" else paid_at
        for _ in range(rng.randrange(6)):
            events.append((i, "checked_in", d1 + timedelta(days=rng.randrange(7), hours=9)))
        if rng.random() < 0.7:
            tags.append((i, f"goal:{rng.choice(GOALS)}", "survey"))
        if rng.random() < 0.15:
            tags.append((i, "intent:A", "rule"))
        if rng.random() < 0.5:
            tags.append((i, rng.choice(("activity:daily", "activity:silent")), "event"))
        for step, day, variants, channel in (
            ("welcome", -2, ("survey-first", "group-first"), "wecom"),
            ("live-notice", 1, ("a",), "wecom"),
            ("progress-note", 3, ("a",), "advisor_task"),
            ("recommend", 5, ("a", "b"), "advisor_task"),
            ("offer-close", 8, ("a",), "advisor_task"),
        ):
            sent_at = d1 + timedelta(days=day - 1, hours=20)
            if step == "offer-close" and paid_at is not None and paid_at < sent_at:
                continue
            delivery_id = len(deliveries) + 1
            variant = variants[i % len(variants)]
            deliveries.append(
                {
                    "id": delivery_id,
                    "cohort_id": cohort.id,
                    "enrollment_id": i,
                    "advisor_id": advisor.id,
                    "target": f"e{i}",
                    "audience": "learner",
                    "step_key": step,
                    "occurrence": "at",
                    "channel": channel,
                    "planned_at": sent_at,
                    "due_at": sent_at,
                    "status": "sent",
                    "variant": variant,
                    "text": f"{step} {variant}",
                    "sent_at": sent_at,
                }
            )
            if channel == "advisor_task":
                done = rng.random() < 0.6
                tasks.append(
                    {
                        "delivery_id": delivery_id,
                        "cohort_id": cohort.id,
                        "enrollment_id": i,
                        "advisor_id": advisor.id,
                        "step_key": step,
                        "script": f"{step} {variant}",
                        "due_at": sent_at + timedelta(hours=2),
                        "status": "sent" if done else "open",
                        "done_at": sent_at + timedelta(minutes=30) if done else None,
                        "created_at": sent_at,
                    }
                )
        if paid_at is not None:
            sales.append(
                {
                    "enrollment_id": i,
                    "cohort_id": cohort.id,
                    "advisor_id": advisor.id,
                    "course_key": "office-automation",
                    "amount": 1999.0,
                    "paid_at": paid_at,
                    "step_key": "recommend",
                    "variant": "a" if i % 2 == 0 else "b",
                }
            )
        if i % 20_000 == 0:
            progress(f"  generated {i:,} learners")
    session.commit()
    counts = {
        "learners": copy_rows(session, t["learners"], people),
        "enrollments": copy_rows(session, t["enrollments"], places),
        "learner_events": copy_rows(
            session,
            t["learner_events"],
            (
                {
                    "learner_id": i,
                    "enrollment_id": i,
                    "name": n,
                    "occurred_at": at,
                    "source": "api",
                    "recorded_at": at,
                }
                for i, n, at in events
            ),
        ),
        "tags": copy_rows(
            session,
            t["tags"],
            (
                {"learner_id": i, "name": n, "group": n.split(":")[0], "source": s}
                for i, n, s in tags
            ),
        ),
        "deliveries": copy_rows(session, t["deliveries"], deliveries),
        "tasks": copy_rows(session, t["tasks"], tasks),
        "conversions": copy_rows(session, t["conversions"], sales),
    }
    for name in counts:
        session.execute(text(f"ANALYZE {name}"))
    session.commit()
    return counts


def median_time(action: Callable[[], object], repeat: int) -> list[float]:
    action()  # warm-up: caches, plans
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        runs.append(time.perf_counter() - start)
    return runs


def run(args: argparse.Namespace) -> dict[str, Any]:
    from campaign import create_app
    from campaign.db import database
    from campaign.offers.funnel import funnel

    with fresh_schema(args.keep) as url:
        app = create_app({"DATABASE_URL": url, "TESTING": True})
        db = database(app)
        session = db.sessionmaker()
        progress(f"loading {args.enrollments:,} enrollments")
        begin = time.perf_counter()
        counts = load_school(session, args.enrollments, args.seed)
        progress(f"  loaded in {time.perf_counter() - begin:.1f} s: {counts}")
        events_baseline = "SELECT name, count(*) FROM learner_events GROUP BY name"
        steps_baseline = (
            "SELECT step_key, count(*) FROM deliveries WHERE status = 'sent' GROUP BY step_key"
        )
        timings: list[dict[str, Any]] = []

        def measure(name: str, action: Callable[[], object], baseline: str | None) -> None:
            progress(f"timing {name}")
            runs = median_time(action, args.repeat)
            timings.append(
                {
                    "name": name,
                    "median": statistics.median(runs),
                    "min": min(runs),
                    "runs": runs,
                    "baseline": baseline,
                }
            )

        measure(
            "baseline: events GROUP BY name",
            lambda: session.execute(text(events_baseline)).all(),
            None,
        )
        measure(
            "baseline: sent deliveries GROUP BY step",
            lambda: session.execute(text(steps_baseline)).all(),
            None,
        )
        rows: dict[str, int] = {}
        for by, baseline in (
            ("stage", "baseline: events GROUP BY name"),
            ("advisor", "baseline: events GROUP BY name"),
            ("tag", "baseline: events GROUP BY name"),
            ("step", "baseline: sent deliveries GROUP BY step"),
            ("variant", "baseline: sent deliveries GROUP BY step"),
        ):
            measure(f"funnel by {by}", lambda by=by: funnel(session, by=by), baseline)
            rows[by] = len(funnel(session, by=by).rows)
        first = session.execute(text("SELECT min(id) FROM cohorts")).scalar()
        measure(
            "funnel of one cohort (10,000)",
            lambda: funnel(session, cohort_id=first),
            "baseline: events GROUP BY name",
        )
        check = funnel(session, by="stage").rows[-1].counts
        session.close()
        db.engine.dispose()
    by_name = {t["name"]: t for t in timings}
    for timing in timings:
        if timing["baseline"]:
            timing["ratio"] = timing["median"] / by_name[timing["baseline"]]["median"]
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": server_url().split("@")[-1],
        "enrollments": args.enrollments,
        "rows": counts,
        "funnel_rows": rows,
        "all_cohorts": check,
        "machine": machine(),
        "timings": timings,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="10,000 enrollments, 2 repeats")
    parser.add_argument("--keep", action="store_true", help="keep the schema for a look")
    args = parser.parse_args(argv)
    if args.quick:
        args.enrollments, args.repeat = 10_000, 2
    report = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "funnel.json").write_text(json.dumps(report, indent=2, default=str), "utf-8")
    print(f"{report['enrollments']:,} enrollments; rows: {report['rows']}")
    print(f"all cohorts: {report['all_cohorts']}")
    for timing in report["timings"]:
        ratio = f"  {timing['ratio']:.1f}x its baseline" if "ratio" in timing else ""
        name, median, best = timing["name"], timing["median"], timing["min"]
        print(f"{name:<40} median {median:.3f} s  min {best:.3f} s{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
