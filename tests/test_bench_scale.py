"""The scale harness (``campaign bench scale``) at a size a test can afford, on PostgreSQL.

300 learners: 4,507 rows planned through ``enroll()``, the 901 of camp day D1 drained by a
real ``campaign dispatcher`` and two ``campaign worker`` processes; then the lag probe, the
raw-update and naive baselines. The full sizes are in docs/benchmarks.md ("Scale").
"""

from __future__ import annotations

from click.testing import CliRunner

from campaign.commands import main
from campaign.proof.scale import ScaleConfig, run_scale
from campaign.proof.scale_camp import COHORT_ROWS, HOMEWORK_EVERY, ROWS_PER_LEARNER
from campaign.proof.scale_report import report, table

LEARNERS = 300


def test_the_scale_run_measures_every_number(postgres_url: str) -> None:
    lines: list[str] = []
    result = run_scale(
        ScaleConfig(
            learners=LEARNERS,
            workers=2,
            postgres_url=postgres_url,
            probe_rate=100.0,
            probe_seconds=2.0,
            naive=100,
            raw_rows=1_000,
            raw_single=100,
            deadline=180.0,
            echo=lines.append,
        )
    )
    shown = "\n".join(lines + report(result))
    plan, day, drain = result["plan"], result["day"], result["drain"]
    assert plan["deliveries"] == LEARNERS * ROWS_PER_LEARNER + COHORT_ROWS, shown
    assert plan["seconds"] > 0 and plan["rows_per_second"] > 0
    assert plan["tenths"][-1][0] == LEARNERS
    # D1: the morning lesson, the homework reminder and the call per learner, one group post.
    assert day["rows"] == LEARNERS * 3 + 1, shown
    assert drain["all_terminal"], shown
    assert drain["terminal"] == day["rows"]
    reminders_skipped = LEARNERS // HOMEWORK_EVERY
    assert drain["outcomes"] == {
        "sent": day["rows"] - reminders_skipped,
        "skipped: condition false": reminders_skipped,
    }, shown
    assert drain["tasks"] == LEARNERS and drain["max_tasks_per_advisor"] == LEARNERS
    assert drain["advisors_over_capacity"] == drain["tasks_over_capacity"] == 0
    assert drain["per_second"] > 0 and drain["seconds"] > 0
    assert drain["rows_in_jobs"] >= day["rows"]
    assert 0 <= drain["queue_wait_p50_s"] <= drain["queue_wait_p99_s"] < drain["seconds"] + 1
    lag = result["lag"]
    assert lag["rows"] == lag["enqueued"] == 200, shown
    assert 0 < lag["p50_ms"] <= lag["p99_ms"] <= lag["max_ms"]
    assert result["dispatcher"]["queued"] >= day["rows"] + lag["rows"], shown
    redis = result["redis"]
    assert 0 < redis["used_max_mb"] <= redis["peak_mb"] < 50
    assert redis["contents"]["rq:job"]["keys"] >= 1, redis
    rss = result["rss"]
    assert rss["dispatcher_peak_mb"] > 10 and rss["worker_peak_mb"] > 10
    assert set(rss["processes"]) == {"dispatcher-1", "worker-1", "worker-2"}
    assert 0 < result["database_after_plan"]["bytes"] <= result["database_after_drain"]["bytes"]
    assert "deliveries" in result["database_after_drain"]["tables"]
    for key in ("set_based", "row_per_commit", "row_per_statement"):
        assert result["raw"][key]["per_second"] > 0, key
    assert result["naive"]["messages"] == 100 and result["naive"]["per_second"] > 0
    assert set(result["ratios"]) == {
        "drain_vs_naive",
        "drain_vs_raw_set_based",
        "drain_vs_raw_row_per_commit",
        "drain_vs_raw_row_per_statement",
    }
    assert result["machine"]["nproc"] >= 1 and result["machine"]["postgresql"]
    rendered = table([result, result])
    assert rendered[2].startswith(f"| {LEARNERS} |")
    assert any(line.startswith("target Redis <= 50 MB: met") for line in rendered)
    assert any("worker peak RSS flat" in line for line in rendered)


def test_the_command_checks_its_sizes() -> None:
    runner = CliRunner()
    outcome = runner.invoke(main, ["bench", "scale", "--sizes", "10,abc"])
    assert outcome.exit_code == 2 and "not a list of numbers" in outcome.output
    outcome = runner.invoke(main, ["bench", "scale", "--sizes", "5"])
    assert outcome.exit_code == 2 and "at least 10" in outcome.output
    outcome = runner.invoke(main, ["bench", "scale", "--help"])
    assert outcome.exit_code == 0 and "--sizes" in outcome.output
