"""The chaos suite at a size CI can afford, and the checks it relies on.

``test_the_engine_survives_chaos`` runs the harness of :mod:`campaign.proof.chaos` on PostgreSQL:
2 dispatchers and 4 workers (real processes) drain a cohort into a counting webhook receiver, a
log outbox and the advisors' task list while the harness kills random members with SIGKILL,
restarts Redis once and cuts every database connection of the engine once; then no delivery may
have been accepted twice, no row may have stayed claimed or sending past its lease + 60 s, every
row must be terminal with a reason and the counts must add up to what the camp planned.

The full size (100,000 deliveries, 20 kills) is ``campaign bench chaos``; the size here is
:data:`DELIVERIES` and :data:`KILLS`. The other tests feed the checker made-up outcomes and
make sure it reports each kind of failure.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaign.proof.camp import expected_outcomes, outcome_key, split
from campaign.proof.chaos import ChaosConfig, run_chaos
from campaign.proof.checks import Outcome, Row, check_outcome, stuck_rows
from campaign.proof.schedule import plan_events, worker_queues
from campaign.proof.sink import KeyRecord, SinkCounts, WebhookSink

DELIVERIES = 2_000  # rows drained in CI (the send path does ~50-100 a second on PostgreSQL)
KILLS = 6  # SIGKILLs: one for each member of the fleet
DEADLINE = 120.0  # seconds the drain may take before the run fails


def test_the_engine_survives_chaos(postgres_url: str, tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_chaos(
        ChaosConfig(
            deliveries=DELIVERIES,
            kills=KILLS,
            postgres_url=postgres_url,
            folder=tmp_path / "chaos",
            deadline=DEADLINE,
            echo=lines.append,
        )
    )
    report = result.report()
    print("\n".join(lines))  # shown when the test fails
    failed = [check for check in result.checks if not check.ok]
    assert not failed, report
    assert result.ok
    kinds = Counter(event.kind for event in result.events if event.fired_after is not None)
    assert kinds == {"kill": KILLS, "redis": 1, "terminate": 1}, report
    # the held rows came back only after the last event, and were drained like the rest
    released = [float(line.split()[0]) for line in lines if "released the" in line]
    last_event = max(event.fired_after or 0.0 for event in result.events)
    assert len(released) == 1 and released[0] >= round(last_event, 1), "\n".join(lines)
    assert result.deliveries == sum(result.by_state.values()) >= DELIVERIES - 5
    assert {"sent", "skipped", "expired", "cancelled"} <= set(result.by_state), report
    assert result.sink["accepted"] == result.sink["requests"] - result.sink["reposts"]


# --- the checks, on made-up outcomes -------------------------------------------------------


def clean_outcome() -> Outcome:
    """A run in which everything went right: 3 rows, each received once where it should be."""
    rows = [
        Row(1, "sent", "HTTP 200", "webhook", 1),
        Row(2, "sent", "task created for the advisor", "advisor_task", 1),
        Row(3, "sent", "written to outbox", "wecom", 2),
        Row(4, "skipped", "condition false", "webhook", 0),
    ]
    webhook = SinkCounts(requests=1, keys={"campaign-delivery-1": KeyRecord(1, 1)})
    return Outcome(
        rows=rows,
        expected=Counter({"sent": 3, "skipped: condition false": 1}),
        webhook=webhook,
        outbox=Counter({3: 1}),
        tasks=Counter({2: 1}),
        events_planned=3,
        events_fired=3,
        terminated_backends=4,
    )


def failing(outcome: Outcome) -> dict[str, str]:
    return {check.name: check.detail for check in check_outcome(outcome) if not check.ok}


def test_a_clean_outcome_passes_every_check() -> None:
    assert failing(clean_outcome()) == {}


def test_a_repost_with_the_same_key_is_no_duplicate_but_is_reported() -> None:
    outcome = clean_outcome()
    outcome.rows[0] = Row(1, "sent", "HTTP 200", "webhook", 2)  # retried after a kill
    outcome.webhook = SinkCounts(requests=2, keys={"campaign-delivery-1": KeyRecord(1, 2)})
    checks = {check.name: check for check in check_outcome(outcome)}
    assert all(check.ok for check in checks.values())
    assert "de-duplication: 1" in checks["no duplicates"].detail


def test_a_duplicate_is_reported() -> None:
    outcome = clean_outcome()
    outcome.webhook = SinkCounts(  # delivery 1 accepted under two keys: the learner got it twice
        requests=2,
        keys={"campaign-delivery-1": KeyRecord(1, 1), "other-key": KeyRecord(1, 1)},
    )
    assert "accepted twice at the webhook: 1;" in failing(outcome)["no duplicates"]

    outcome = clean_outcome()
    outcome.webhook = SinkCounts(requests=2, keys={"campaign-delivery-1": KeyRecord(1, 2)})
    assert "posted more often than attempted: 1;" in failing(outcome)["no duplicates"]

    outcome = clean_outcome()
    outcome.outbox = Counter({3: 2})
    outcome.tasks = Counter({2: 2})
    detail = failing(outcome)["no duplicates"]
    assert "twice in the outbox: 3;" in detail
    assert "two tasks: 2;" in detail


def test_a_stuck_row_is_reported() -> None:
    now = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)
    seen = [
        (5, "claimed", now - timedelta(seconds=61)),  # stuck
        (6, "sending", now - timedelta(seconds=90)),  # stuck
        (7, "sending", now - timedelta(seconds=59)),  # late, within the minute's grace
        (8, "pending", None),  # waiting for a claim: not held by anyone
        (9, "claimed", None),  # held without a lease: no sweeper would take it back
    ]
    stuck = stuck_rows(seen, now)
    assert [s.id for s in stuck] == [5, 6, 9]
    outcome = clean_outcome()
    outcome.stuck = stuck[:2]
    detail = failing(outcome)["no row claimed or sending past its lease + 60 s"]
    assert "2 rows" in detail
    assert "worst: row 6 sending 90 s past its lease" in detail


def test_a_row_left_open_or_without_a_reason_is_reported() -> None:
    outcome = clean_outcome()
    outcome.rows[3] = Row(4, "pending", "retrying: webhook: HTTP 503", "webhook", 1)
    found = failing(outcome)
    assert "not terminal: 1 (4)" in found["every row terminal with a reason"]
    assert "counts by state add up" in found  # the expected skip is missing

    outcome = clean_outcome()
    outcome.rows[3] = Row(4, "skipped", None, "webhook", 0)
    assert "without a reason: 1 (4)" in failing(outcome)["every row terminal with a reason"]

    outcome = clean_outcome()
    outcome.drained = False
    assert "deadline" in failing(outcome)["every row terminal with a reason"]


def test_counts_that_do_not_add_up_are_reported() -> None:
    outcome = clean_outcome()
    outcome.expected = Counter({"sent": 3, "skipped: condition false": 2})  # a row went missing
    detail = failing(outcome)["counts by state add up"]
    assert "planned 5" in detail
    assert "skipped: condition false (1, 2)" in detail


def test_sinks_that_disagree_with_the_rows_are_reported() -> None:
    outcome = clean_outcome()
    outcome.webhook = SinkCounts()  # recorded sent, never received
    outcome.outbox = Counter({3: 1, 4: 1})  # received, recorded skipped
    detail = failing(outcome)["the sinks agree with the rows"]
    assert "sent but not received at the webhook: 1 (1;" in detail
    assert "in the outbox but not recorded sent: 1 (4; {'skipped': 1})" in detail


def test_missing_chaos_is_reported_and_a_process_that_died_is_noted() -> None:
    outcome = clean_outcome()
    outcome.events_fired = 2
    outcome.terminated_backends = 0
    outcome.unexpected_exits = [{"member": "worker-2", "status": 1}]
    detail = failing(outcome)["the chaos happened"]
    assert "only 2 of 3 events fired" in detail
    assert "found no engine connection" in detail
    assert "worker-2 exited by itself (status 1), restarted" in detail

    outcome = clean_outcome()  # restarted by the harness, as by a supervisor: noted, no failure
    outcome.unexpected_exits = [{"member": "worker-2", "status": 1}]
    checks = {check.name: check for check in check_outcome(outcome)}
    assert all(check.ok for check in checks.values())
    assert "worker-2 exited by itself" in checks["the chaos happened"].detail


# --- the pieces of the harness ---------------------------------------------------------------


def test_the_camp_plans_the_size_asked_and_knows_how_it_ends() -> None:
    for deliveries in (10, 2_000, 100_000):
        main, capped = split(deliveries)
        expected = expected_outcomes(main, capped)
        assert deliveries - 5 <= sum(expected.values()) == main * 4 + capped * 2 <= deliveries
    expected = expected_outcomes(100, 10)
    # 100 learners: 2 on do-not-disturb, 2 dropped (odd indexes 7, 13, 57, 63); of the other
    # 96, the 50 even indexes are tagged.
    assert expected == {
        "sent": 96 * 2 + 50 + 10,
        "skipped: condition false": 46,
        "expired: expired": 96,
        "skipped: do not disturb": 8,
        "cancelled: enrollment not active": 8,
        "skipped: daily cap reached": 10,
    }
    assert outcome_key("sent", "HTTP 200") == "sent"
    assert outcome_key("skipped", "condition false") == "skipped: condition false"


def test_every_queue_gets_a_worker_and_the_busiest_the_rest() -> None:
    loads = {"webhook": 30, "advisor_task": 10, "wecom": 20}
    assert worker_queues(4, loads) == [["webhook"], ["wecom"], ["advisor_task"], ["webhook"]]
    assert worker_queues(2, loads) == [["webhook", "advisor_task"], ["wecom"]]
    assert worker_queues(1, loads) == [["webhook", "wecom", "advisor_task"]]


def test_the_schedule_spreads_the_chaos_over_the_drain() -> None:
    import random

    events = plan_events(20, random.Random(7))
    assert Counter(e.kind for e in events) == {"kill": 20, "redis": 1, "terminate": 1}
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert all(0.05 <= e.at <= 0.85 for e in events)


def test_the_webhook_sink_deduplicates_by_key_and_counts_every_request() -> None:
    sink = WebhookSink(secret="s")
    assert sink.record("k1", 1) is True
    assert sink.record("k1", 1) is False  # a re-post: answered, not acted on
    assert sink.record("k2", 2, valid=False) is True
    counts = sink.snapshot()
    assert counts.requests == 3
    assert counts.invalid == 1
    assert counts.accepted() == {1: 1, 2: 1}
    assert counts.posts() == {1: 2, 2: 1}


def test_the_command_is_registered_and_refuses_sqlite(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from campaign.commands import main

    runner = CliRunner()
    shown = runner.invoke(main, ["bench", "chaos", "--help"])
    assert shown.exit_code == 0, shown.output
    assert "--deliveries" in shown.output
    assert "--kills" in shown.output
    refused = runner.invoke(
        main, ["bench", "chaos", "--postgres-url", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert refused.exit_code == 2
    assert "needs PostgreSQL" in refused.output
