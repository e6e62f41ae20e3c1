"""The scale run's report: every number of one run, and how each grows across sizes."""

from __future__ import annotations

import re
from typing import Any

from campaign.proof.scale_camp import ADVISOR_CAPACITY
from campaign.proof.scale_measure import Sampler

REDIS_TARGET_MB = 50.0  # the schedule is in SQL: Redis holds only the batches in flight
FLAT = 1.25  # "flat": the peak grows by at most a quarter across the sizes measured


def _mb(value: float) -> str:
    return f"{value / 1024 / 1024:,.0f} MB"


def report(result: dict[str, Any]) -> list[str]:
    """Describe one run in a few lines (every number the run measured)."""
    m = result["machine"]
    plan, day, drain = result["plan"], result["day"], result["drain"]
    lines = [
        f"scale: {result['learners']:,} learners, {result['advisors']:,} advisors, "
        f"{result['workers']} workers; PostgreSQL {m.get('postgresql')} (autovacuum "
        f"{m.get('autovacuum')}), Redis {m.get('redis')}; {m['cpu_model']}, nproc {m['nproc']}; "
        f"load {m['load_start']} at the start, {m['load_end']} at the end",
        f"plan: {plan['deliveries']:,} deliveries in {plan['seconds']:.1f} s: "
        f"{plan['rows_per_second']:,.0f} rows/s ({plan['learners_per_second']:,.0f} learners/s);"
        f" ANALYZE {result['analyze_s']:.1f} s",
        f"day D1: {day['rows']:,} rows made due by one UPDATE in {day['move_s']:.1f} s; drained in"
        f" {drain['seconds']:.1f} s: {drain['per_second']:,.0f}/s"
        + (
            f" (first half {drain['rate_first_half']:,.0f}/s, second half "
            f"{drain['rate_second_half']:,.0f}/s)"
            if "rate_first_half" in drain
            else ""
        )
        + f"; load {drain['load']['min']}-{drain['load']['max']}",
        "  outcomes: " + ", ".join(f"{k} {n:,}" for k, n in drain["outcomes"].items()),
        f"  every row terminal: {'yes' if drain['all_terminal'] else 'NO'}; tasks "
        f"{drain['tasks']:,} (at most {drain['max_tasks_per_advisor']:,} for one advisor; "
        f"{drain['advisors_over_capacity']:,} advisors over their daily capacity of "
        f"{ADVISOR_CAPACITY}, by {drain['tasks_over_capacity']:,} tasks in all)",
    ]
    if drain.get("queue_wait_p50_s") is not None:
        d = result.get("dispatcher", {})
        lines.append(
            f"  queue wait (drain start -> enqueued): p50 {drain['queue_wait_p50_s']:.1f} s, "
            f"p99 {drain['queue_wait_p99_s']:.1f} s; {drain['jobs']:,} jobs; the dispatcher queued "
            f"{d.get('queued', 0):,} rows in {d.get('batches', 0):,} batches (drain and probe), "
            f"{d.get('reclaimed', 0):,} reclaimed"
        )
    for name, q in drain.get("jobs_by_queue", {}).get("queues", {}).items():
        lines.append(
            f"  {name}: {q['jobs']:,} jobs, {q['rows']:,} rows, longest wait in the queue "
            f"{q['max_wait_s']:.1f} s, longest job {q['max_run_s']:.1f} s, {q['failed']} failed"
            + (f" ({q['errors']})" if q["errors"] else "")
            + "; the jobs said: "
            + ", ".join(f"{k} {n:,}" for k, n in sorted(q["outcomes"].items()))
        )
    if drain.get("rows_attempted_twice"):
        lines.append(
            f"  rows of the day attempted more than once: {drain['rows_attempted_twice']:,}"
        )
    lag = result["lag"]
    if "p50_ms" in lag:
        lines.append(
            f"dispatch lag ({lag['rows']:,} D2 rows due at {lag['rate']:g}/s, the schedule in "
            f"place): p50 {lag['p50_ms']:.0f} ms, p99 {lag['p99_ms']:.0f} ms, max "
            f"{lag['max_ms']:.0f} ms ({lag['enqueued']:,} enqueued)"
        )
    redis = result["redis"]
    verdict = "met" if redis["peak_mb"] <= REDIS_TARGET_MB else "MISSED"
    lines.append(
        f"Redis: used_memory_peak {redis['peak_mb']:.1f} MB, largest sample "
        f"{redis['used_max_mb']:.1f} MB, after the drain {redis['used_after_mb']:.1f} MB "
        f"({redis['keys']:,} keys); target <= {REDIS_TARGET_MB:g} MB: {verdict}"
    )
    if redis.get("contents"):
        lines.append(
            "  Redis after the drain: "
            + ", ".join(
                f"{kind} {c['keys']:,} keys x {c['mean_bytes']:,} B = {c['est_mb']:.1f} MB"
                for kind, c in sorted(redis["contents"].items())
            )
            + " (MEMORY USAGE of a sample)"
        )
    rss = result["rss"]
    workers = [
        f"{n} {p['first_mb']:.0f}->{p['last_mb']:.0f} (peak {p['peak_mb']:.0f})"
        for n, p in rss["processes"].items()
        if n.startswith("worker")
    ]
    lines.append(
        f"RSS MB: dispatcher peak {rss['dispatcher_peak_mb']:.0f}, workers peak "
        f"{rss['worker_peak_mb']:.0f}; during the drain: " + ", ".join(workers)
    )
    before, after = result["database_after_plan"], result["database_after_drain"]
    deliveries = after["tables"].get("deliveries", {})
    lines.append(
        f"database (the run's schema): {_mb(before['bytes'])} after planning, "
        f"{_mb(after['bytes'])} after the drain; deliveries {_mb(deliveries.get('total', 0))} "
        f"(heap {_mb(deliveries.get('heap', 0))}, indexes {_mb(deliveries.get('indexes', 0))}); "
        f"{before['bytes'] / plan['deliveries']:,.0f} bytes per planned delivery"
    )
    raw = result["raw"]
    lines.append(
        "raw PostgreSQL updates of deliveries: "
        + "; ".join(
            f"{label} {raw[key]['rows']:,} rows in {raw[key]['seconds']:.2f} s: "
            f"{raw[key]['per_second']:,.0f}/s"
            for key, label in (
                ("set_based", "set-based"),
                ("row_per_commit", "one row per statement and commit"),
                ("row_per_statement", "one row per statement, one transaction"),
            )
        )
    )
    naive = result.get("naive")
    if naive:
        lines.append(
            f"naive baseline (one RQ job per message): {naive['messages']:,} in "
            f"{naive['seconds']:.1f} s: {naive['per_second']:,.0f}/s"
        )
    r = result["ratios"]
    lines.append(
        "ratios of the drain rate: "
        + ", ".join(f"{k.removeprefix('drain_vs_')} {v:.3g}x" for k, v in r.items())
    )
    return lines


COLUMNS = (
    ("learners", lambda r: f"{r['learners']:,}"),
    ("planned", lambda r: f"{r['plan']['deliveries']:,}"),
    ("plan s", lambda r: f"{r['plan']['seconds']:,.1f}"),
    ("plan rows/s", lambda r: f"{r['plan']['rows_per_second']:,.0f}"),
    ("day rows", lambda r: f"{r['day']['rows']:,}"),
    ("drain s", lambda r: f"{r['drain']['seconds']:,.1f}"),
    ("drain /s", lambda r: f"{r['drain']['per_second']:,.0f}"),
    ("wait p50/p99 s", lambda r: _pair(r["drain"], "queue_wait_p50_s", "queue_wait_p99_s", 1)),
    ("lag p50/p99 ms", lambda r: _pair(r["lag"], "p50_ms", "p99_ms", 0)),
    ("Redis peak MB", lambda r: f"{r['redis']['peak_mb']:.1f}"),
    ("dispatcher RSS MB", lambda r: f"{r['rss']['dispatcher_peak_mb']:.0f}"),
    ("worker RSS MB", lambda r: f"{r['rss']['worker_peak_mb']:.0f}"),
    ("DB MB", lambda r: f"{r['database_after_drain']['bytes'] / 1024 / 1024:,.0f}"),
    ("naive /s", lambda r: f"{r.get('naive', {}).get('per_second', 0):,.0f}"),
    ("raw set /s", lambda r: f"{r['raw']['set_based']['per_second']:,.0f}"),
    ("raw row /s", lambda r: f"{r['raw']['row_per_commit']['per_second']:,.0f}"),
    ("load", lambda r: f"{r['drain']['load']['min']}-{r['drain']['load']['max']}"),
)


def _pair(values: dict[str, Any], a: str, b: str, digits: int) -> str:
    if values.get(a) is None:
        return "-"
    return f"{values[a]:,.{digits}f} / {values[b]:,.{digits}f}"


GROWTH = (
    ("plan s", lambda r: r["plan"]["seconds"]),
    ("drain rate", lambda r: r["drain"]["per_second"]),
    ("lag p99", lambda r: r["lag"].get("p99_ms")),
    ("Redis peak", lambda r: r["redis"]["peak_mb"]),
    ("dispatcher RSS", lambda r: r["rss"]["dispatcher_peak_mb"]),
    ("worker RSS", lambda r: r["rss"]["worker_peak_mb"]),
    ("DB size", lambda r: r["database_after_drain"]["bytes"]),
)


def table(results: list[dict[str, Any]]) -> list[str]:
    """A Markdown table of every size, how each number grows, and the verdicts."""
    lines = [
        "| " + " | ".join(name for name, _ in COLUMNS) + " |",
        "|" + "|".join("---:" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(cell(r) for _, cell in COLUMNS) + " |" for r in results]
    if len(results) > 1:
        first, last = results[0], results[-1]
        factor = last["learners"] / first["learners"]
        grows = []
        for name, value in GROWTH:
            a, b = value(first), value(last)
            if a and b:
                grows.append(f"{name} x{b / a:.2f}")
        lines.append(
            f"growth from {first['learners']:,} to {last['learners']:,} learners "
            f"(x{factor:g}): " + ", ".join(grows)
        )
    lines += [f"target {what}: {verdict}" for what, verdict in verdicts(results)]
    return lines


def verdicts(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found = []
    peak = max(r["redis"]["peak_mb"] for r in results)
    found.append(
        (
            f"Redis <= {REDIS_TARGET_MB:g} MB",
            f"{'met' if peak <= REDIS_TARGET_MB else 'MISSED'} (largest peak {peak:.1f} MB)",
        )
    )
    if len(results) > 1:
        for key, name in (("dispatcher_peak_mb", "dispatcher"), ("worker_peak_mb", "worker")):
            low, high = results[0]["rss"][key], results[-1]["rss"][key]
            flat = high <= FLAT * low
            found.append(
                (
                    f"{name} peak RSS flat (x{FLAT:g} at most)",
                    f"{'met' if flat else 'MISSED'} ({low:.0f} MB -> {high:.0f} MB)",
                )
            )
    return found


def half_rates(progress: list[tuple[float, int]]) -> tuple[float, float] | None:
    """Rows a second before and after the sample nearest half of the rows done."""
    if len(progress) < 3:
        return None
    total_t, total = progress[-1]
    middle = min(progress[1:-1], key=lambda p: abs(p[1] - total / 2))
    if middle[0] <= 0 or total_t <= middle[0]:
        return None
    return middle[1] / middle[0], (total - middle[1]) / (total_t - middle[0])


def dispatcher_totals(words: list[str]) -> dict[str, Any]:
    found = {"queued": 0, "batches": 0, "reclaimed": 0, "said": words}
    for line in words:
        match = re.search(r"(\d+) deliveries queued in (\d+) batches; (\d+) reclaimed", line)
        if match:
            found["queued"] += int(match[1])
            found["batches"] += int(match[2])
            found["reclaimed"] += int(match[3])
    return found


def rss_summary(sampler: Sampler) -> dict[str, Any]:
    workers = [n for n in sampler.peak_rss_kib if n.startswith("worker")]
    each = {
        name: {
            "peak_mb": sampler.peak_rss_kib[name] / 1024,
            "first_mb": sampler.first_rss_kib[name] / 1024,
            "last_mb": sampler.last_rss_kib[name] / 1024,
        }
        for name in sampler.peak_rss_kib
    }
    return {
        "dispatcher_peak_mb": each.get("dispatcher-1", {}).get("peak_mb"),
        "worker_peak_mb": max((each[n]["peak_mb"] for n in workers), default=None),
        "processes": each,
    }


def ratios(result: dict[str, Any]) -> dict[str, float]:
    """The drain rate against the naive baseline and against raw row updates."""
    rate = result.get("drain", {}).get("per_second")
    found: dict[str, float] = {}
    if not rate:
        return found
    naive = result.get("naive", {}).get("per_second")
    if naive:
        found["drain_vs_naive"] = rate / naive
    for key in ("set_based", "row_per_commit", "row_per_statement"):
        raw = result.get("raw", {}).get(key, {}).get("per_second")
        if raw:
            found[f"drain_vs_raw_{key}"] = rate / raw
    return found
