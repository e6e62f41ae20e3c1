"""Benchmark the delivery engine against its targets, with the naive baseline in the same run.

``python -m bench.engine [--deliveries 100000] [--db postgresql|sqlite]`` (``make bench-engine``).
One run, one fresh database (a new PostgreSQL schema, dropped afterwards), a private Redis:

a) end to end: enroll a cohort in bulk (planning), dispatch, govern, render, record;
b) dispatch lag, due -> enqueued, at a steady due rate (default 1,000/s);
c) the time to drain a burst of deliveries all due at the same instant (default 100,000);
d) the naive baseline: the same messages as one RQ job per message, and the ratio a / d.

Then one batch is profiled in-process (cProfile, statements per delivery). The log channel
writes to /dev/null. Progress goes to stderr, the results to stdout and to
``bench/results/engine-latest.json`` (the profile to ``engine-profile.txt``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.engine.fixture import (
    DEFAULT_POSTGRES_URL,
    Bench,
    dispatcher_stats,
    fresh_database,
    private_redis,
    progress,
)
from bench.engine.naive import naive
from bench.engine.phases import burst, lag, throughput
from bench.engine.profiling import profile_batch
from bench.run import machine

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
TARGET_RATE = 10_000  # deliveries a second, end to end
TARGET_RATIO = 10  # times the naive baseline
TARGET_LAG_P99_MS = 250
TARGET_BURST = (100_000, 15.0)  # deliveries, seconds


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    parser.add_argument("--deliveries", type=int, default=100_000, help="size of a), c), d)")
    parser.add_argument("--burst", type=int, help="size of c) [default: --deliveries]")
    parser.add_argument("--naive", type=int, help="size of d) [default: --deliveries]")
    parser.add_argument("--rate", type=float, default=1000.0, help="due rate of b), per second")
    parser.add_argument("--lag-seconds", type=float, default=10.0, help="length of b)")
    parser.add_argument("--workers", type=int, default=4, help="RQ worker processes")
    parser.add_argument("--tick", type=float, default=0.1, help="DISPATCH_TICK_SECONDS")
    parser.add_argument(
        "--lease", type=float, help="CLAIM_LEASE_SECONDS [default: the engine's, 30]"
    )
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CAMPAIGN_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--redis-url", help="a Redis to use [default: a private embedded one]")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process profile")
    parser.add_argument(
        "--analyze",
        choices=["auto", "yes", "no"],
        default="auto",
        help="ANALYZE after each phase's planning; auto: when PostgreSQL's autovacuum is off",
    )
    parser.add_argument(
        "--phases", default="abcd", help="which of a, b, c, d to run (e.g. 'c' for the burst)"
    )
    return parser.parse_args(argv)


def about(bench: Bench) -> dict[str, Any]:
    """Describe the machine, the software and the commit the numbers were measured on."""
    info = machine()
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    with bench.sessions() as session:
        dialect = session.get_bind().dialect.name
        query = "SELECT version()" if dialect == "postgresql" else "SELECT sqlite_version()"
        database = str(session.scalar(text(query)))
        if dialect != "postgresql":
            database = f"SQLite {database}"
    info |= {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit.stdout.strip(),
        "changed_files": len(dirty.stdout.splitlines()),
        "database": database.split(" on ")[0],
        "redis": bench.redis.info("server").get("redis_version"),
        "packages": {p: version(p) for p in ("rq", "redis", "SQLAlchemy", "psycopg", "Jinja2")},
        "settings": {"workers": bench.workers, **bench.settings},
    }
    return info


def verdicts(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """Return (what, measured, met) for each target (None: not measured at the target size)."""
    rows: list[tuple[str, str, bool | None]] = []
    a, b, c, d = (results.get(k) for k in ("a", "b", "c", "d"))
    if a:
        rate = a["per_second"]
        rows.append((f"a) end to end >= {TARGET_RATE:,}/s", f"{rate:,.0f}/s", rate >= TARGET_RATE))
    if a and d:
        ratio = a["per_second"] / d["per_second"]
        rows.append((f"a / d >= {TARGET_RATIO}x", f"{ratio:.2f}x", ratio >= TARGET_RATIO))
    if b and "lag_p99_ms" in b:
        p99 = b["lag_p99_ms"]
        at_rate = b["rate"] == 1000
        met = p99 <= TARGET_LAG_P99_MS if at_rate else None
        rows.append((f"b) lag p99 <= {TARGET_LAG_P99_MS} ms at 1,000/s", f"{p99:.0f} ms", met))
    if c:
        size, limit = TARGET_BURST
        seconds = c["drain_seconds"]
        met = seconds <= limit if c["deliveries"] == size else None
        what = f"c) {size:,} due at once in <= {limit:g} s"
        rows.append((what, f"{c['deliveries']:,} in {seconds:.1f} s", met))
    return rows


def report(info: dict[str, Any], results: dict[str, Any]) -> list[str]:
    lines = [
        f"machine: {info['cpu_model']}, nproc {info['usable_cpus']}, Python {info['python']}, "
        f"load {info['load_average_1m']}",
        f"database: {info['database']}; Redis {info['redis']}; packages {info['packages']}",
        f"commit {info['commit'][:12]} ({info['changed_files']} files changed in the tree), "
        f"{info['date']}; settings {info['settings']}",
    ]
    for key, result in results.items():
        if not isinstance(result, dict):
            continue
        shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
        shown.pop("report", None)
        lines.append(f"{key}) {json.dumps(shown, ensure_ascii=False)}")
    for what, measured, met in verdicts(results):
        verdict = "met" if met else ("n/a (other size)" if met is None else "MISSED")
        lines.append(f"target {what}: {measured}: {verdict}")
    return lines


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C and SIGTERM unwind through the clean-up (processes, schema, Redis), also when
    # started in the background, where a shell leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse(argv)
    settings: dict[str, float] = {"DISPATCH_TICK_SECONDS": args.tick}
    if args.lease:
        settings["CLAIM_LEASE_SECONDS"] = args.lease
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-engine-") as folder,
        fresh_database(args.db, args.postgres_url, keep=args.keep) as url,
        private_redis(args.redis_url, Path(folder)) as redis_url,
    ):
        bench = Bench(url, redis_url, Path(folder), args.workers, settings)
        bench.publish()
        off = bench.autovacuum_is_off()
        bench.analyze = args.analyze == "yes" or (args.analyze == "auto" and off)
        info = about(bench)
        info["settings"] |= {"autovacuum_off": off, "analyze_after_planning": bench.analyze}
        progress(f"{info['database']}; {args.workers} workers; commit {info['commit'][:12]}")
        try:
            if set(args.phases) & set("abc"):
                bench.start_engine()
            if "a" in args.phases:
                results["a"] = throughput(bench, args.deliveries)
            if "b" in args.phases:
                results["b"] = lag(bench, args.rate, args.lag_seconds, args.tick)
            if "c" in args.phases:
                results["c"] = burst(bench, args.burst or args.deliveries)
            bench.stop_processes()
            if bench.stops:
                results["dispatcher"] = dispatcher_stats(bench.stops)
            if not args.no_profile:
                results["profile"] = profile_batch(bench)
            if "d" in args.phases:
                results["d"] = naive(bench, args.naive or args.deliveries)
        finally:
            bench.stop_processes()
            bench.sessions.kw["bind"].dispose()
    lines = report(info, results)
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    profile = results.get("profile", {}).pop("report", "")
    (RESULTS / "engine-latest.json").write_text(
        json.dumps({"machine": info, "results": results}, indent=2, default=str), encoding="utf-8"
    )
    if profile:
        (RESULTS / "engine-profile.txt").write_text(profile, encoding="utf-8")
    progress(f"results in {RESULTS / 'engine-latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
