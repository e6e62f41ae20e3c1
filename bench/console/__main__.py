"""``python -m bench.console``: see :mod:`bench.console`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text

from bench.console import __doc__ as ABOUT
from bench.console.measure import measure
from bench.console.seed import Seeded, progress, seed

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "console-latest.json"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_P95_MS = 100.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.console",
        description=(ABOUT or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--enrollments", type=int, default=1_000_000, help="the full size")
    parser.add_argument(
        "--baseline",
        type=int,
        default=10_000,
        help="a smaller size seeded and measured alongside (0: none)",
    )
    parser.add_argument("--cohorts", type=int, default=20, help="weekly cohorts at each size")
    parser.add_argument("--samples", type=int, default=200, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per page first")
    parser.add_argument("--seed", type=int, default=1, help="which advisors and learners to ask")
    parser.add_argument(
        "--quick", action="store_true", help="100,000 enrollments, baseline 10,000, 100 samples"
    )
    parser.add_argument("--keep", action="store_true", help="keep the schemas to look at")
    parser.add_argument(
        "--schema",
        action="append",
        help="measure a schema kept by an earlier run instead of seeding (repeat for several)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CAMPAIGN_BENCH_POSTGRES_URL")
        or os.environ.get("CAMPAIGN_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL,
        help="the server (a new schema is made in its database)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    if args.quick:
        args.enrollments, args.baseline, args.samples = 100_000, 10_000, 100
    return args


@contextmanager
def fresh_schema(server: str, keep: bool) -> Iterator[str]:
    """Yield the URL of a new PostgreSQL schema migrated to head; drop it afterwards."""
    from campaign import migrations
    from campaign.db import make_engine

    schema = f"bench_console_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        rendered = schema_url(server, schema)
        progress(f"schema {schema}: migrating")
        migrations.upgrade(rendered)
        yield rendered
    finally:
        if keep:
            progress(f'schema {schema} kept (DROP SCHEMA "{schema}" CASCADE when done)')
        else:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def describe(server: str) -> dict[str, Any]:
    """Say where the numbers were measured: machine, server, code."""
    from bench.run import machine
    from campaign.db import make_engine

    engine = make_engine(server)
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar_one()
            settings = {
                name: connection.execute(text(f"SHOW {name}")).scalar_one()
                for name in ("shared_buffers", "work_mem", "autovacuum")
            }
    finally:
        engine.dispose()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "machine": machine(),
        "postgresql": str(version),
        "postgresql_settings": settings,
        "commit": commit or None,
    }


def schema_url(server: str, schema: str) -> str:
    url = make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def kept(server: str, schema: str) -> tuple[str, Seeded]:
    """Return the URL of a schema an earlier run kept, and what is in it."""
    from campaign.db import make_engine

    url = schema_url(server, schema)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            count = {
                table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("enrollments", "cohorts", "advisors")
            }
    finally:
        engine.dispose()
    seeded = Seeded(count["enrollments"], count["cohorts"], count["advisors"], datetime.now(UTC))
    return url, seeded


def seed_size(args: argparse.Namespace, url: str, enrollments: int, label: str) -> dict[str, Any]:
    """Seed one size into the schema at ``url``; return what the report says about it."""
    from bench.events import journey_text

    before = load()
    progress(f"{label}: seeding {enrollments:,} enrollments")
    seeded = seed(url, enrollments, cohorts=args.cohorts, journey=journey_text(), label=label)
    return {
        "label": label,
        "url": url,
        "seeded": seeded,
        "enrollments": enrollments,
        "cohorts": seeded.cohorts,
        "advisors": seeded.advisors,
        "seeded_at": seeded.now.isoformat(),
        "rows": seeded.rows,
        "seed_seconds": round(seeded.total_seconds, 1),
        "seed_steps": {k: round(v, 2) for k, v in seeded.seconds.items()},
        "load_average_1m": {"before_seed": before, "after_seed": load()},
    }


def measure_sizes(args: argparse.Namespace, sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Measure every size, their requests interleaved; return the report's entries."""
    progress(f"measuring {', '.join(size['label'] for size in sizes)}, requests interleaved")
    before, begin = load(), time.perf_counter()
    measured = measure(
        [(size["label"], size["url"], size["seeded"]) for size in sizes],
        samples=args.samples,
        warmup=args.warmup,
        seed=args.seed,
    )
    took, after = round(time.perf_counter() - begin, 1), load()
    entries = []
    for size, result in zip(sizes, measured, strict=True):
        entry = {k: v for k, v in size.items() if k not in ("url", "seeded")}
        entry["load_average_1m"] = {**size["load_average_1m"], "before": before, "after": after}
        entry["measure_seconds"] = took
        entries.append(entry | result)
    return entries


def run(args: argparse.Namespace, sizes: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """Seed each size in its own fresh schema, then measure them all together."""
    if args.schema:
        found = []
        for schema in args.schema:
            url, seeded = kept(args.postgres_url, schema)
            found.append(
                {
                    "label": f"kept {seeded.enrollments:,}",
                    "url": url,
                    "seeded": seeded,
                    "enrollments": seeded.enrollments,
                    "cohorts": seeded.cohorts,
                    "advisors": seeded.advisors,
                    "schema": schema,
                    "rows": {},
                    "seed_seconds": None,
                    "load_average_1m": {},
                }
            )
        return measure_sizes(args, sorted(found, key=lambda size: size["enrollments"]))
    with ExitStack() as stack:
        seeded = []
        for enrollments, label in sizes:
            url = stack.enter_context(fresh_schema(args.postgres_url, args.keep))
            seeded.append(seed_size(args, url, enrollments, f"{label} {enrollments:,}"))
        return measure_sizes(args, seeded)


def table(report: dict[str, Any]) -> list[str]:
    """The summary as aligned text lines."""
    lines = [
        f"{'enrollments':>12}  {'page':<8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'SQL p50':>8} {'stmts':>6} {'rows':>5} {'full GC':>7}  "
        f"verdict (p95 <= {TARGET_P95_MS:g} ms)"
    ]
    for size in report["sizes"]:
        for name, page in size["pages"].items():
            verdict = "met" if page["p95_ms"] <= TARGET_P95_MS else "MISSED"
            lines.append(
                f"{size['enrollments']:>12,}  {name:<8} {page['p50_ms']:>8.1f} "
                f"{page['p95_ms']:>8.1f} {page['max_ms']:>8.1f} {page['sql_p50_ms']:>8.1f} "
                f"{page['statements_p50']:>6.0f} {page['rows_p50']:>5.0f} "
                f"{page['requests_with_full_gc']:>7}  {verdict}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    about = describe(args.postgres_url)
    started = datetime.now(UTC)
    sizes = [(args.baseline, "baseline")] if 0 < args.baseline < args.enrollments else []
    sizes.append((args.enrollments, "full"))
    progress(
        f"console bench: {', '.join(f'{n:,}' for n, _ in sizes)} enrollments, "
        f"{args.samples} samples per page; load average {load()}"
    )
    report: dict[str, Any] = {
        "measured_at": started.isoformat(timespec="seconds"),
        **about,
        "target_p95_ms": TARGET_P95_MS,
        "samples": args.samples,
        "warmup": args.warmup,
        "sizes": run(args, sizes),
    }
    report["machine"]["load_average_1m_after"] = load()
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    machine = report["machine"]
    print(
        f"{machine['cpu_model']}; nproc {machine['usable_cpus']}; PostgreSQL "
        f"{report['postgresql']}; load average (1 min) {machine['load_average_1m']} before, "
        f"{machine['load_average_1m_after']} after"
    )
    for size in report["sizes"]:
        print(
            f"{size['enrollments']:,} enrollments ({size['cohorts']} cohorts, "
            f"{size['advisors']:,} advisors): seeded in {size['seed_seconds'] or 0:.0f} s, "
            + ", ".join(f"{name} {rows:,}" for name, rows in size["rows"].items())
        )
    for line in table(report):
        print(line)
    progress(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
