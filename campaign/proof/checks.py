"""The checks of a chaos run: pure functions of what the run observed (no processes, no I/O).

What counts as a duplicate (see :mod:`campaign.proof.sink`): a delivery *accepted as new* more
than once by a receiver. The webhook receiver de-duplicates by idempotency key, as the channel's
contract says, so the engine posting a row again after it lost track of the first post (a kill,
a cut connection) is a re-post, counted and reported, not a duplicate. What the engine may never
do is post a row more often than it recorded an attempt on it (each post follows the row's move
to ``sending``, which counts the attempt): that would be a send it could not have known about.
The log channel's outbox and the advisor tasks are counted per delivery the same way: a second
line, a second task, is a duplicate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from campaign.proof.camp import outcome_key
from campaign.proof.sink import SinkCounts

TERMINAL = frozenset({"sent", "skipped", "expired", "cancelled", "failed", "verify"})
OPEN = ("pending", "claimed", "sending")
STUCK_AFTER_SECONDS = 60  # a claimed or sending row past its lease by more than this is stuck
OUTBOX_CHANNELS = frozenset({"log", "wecom"})  # channels routed to the log channel's outbox
EXAMPLES = 10


@dataclass(frozen=True)
class Row:
    """One delivery as the database holds it at the end."""

    id: int
    status: str
    reason: str | None
    channel: str
    attempts: int


@dataclass(frozen=True)
class Stuck:
    """A row seen claimed or sending more than a minute after its lease ran out."""

    id: int
    status: str
    lease_until: datetime | None
    seen_at: datetime

    @property
    def overdue_seconds(self) -> float:
        if self.lease_until is None:
            return float("inf")
        return (self.seen_at - self.lease_until).total_seconds()


@dataclass
class Outcome:
    """Everything a run observed, for :func:`check_outcome`."""

    rows: list[Row]
    expected: Counter[str]  # outcome key (see camp.outcome_key) -> rows
    webhook: SinkCounts
    outbox: Counter[int] = field(default_factory=Counter)  # delivery id -> outbox lines
    tasks: Counter[int] = field(default_factory=Counter)  # delivery id -> advisor tasks
    stuck: list[Stuck] = field(default_factory=list)
    drained: bool = True  # every row was terminal before the deadline
    events_planned: int = 0
    events_fired: int = 0
    terminated_backends: int | None = None  # None: no terminate event in the plan
    unexpected_exits: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def examples(ids: Iterable[int]) -> str:
    found = sorted(ids)
    shown = ", ".join(str(i) for i in found[:EXAMPLES])
    return f"{shown}{', …' if len(found) > EXAMPLES else ''}" if found else "none"


def counts_by_state(rows: Iterable[Row]) -> dict[str, int]:
    return dict(sorted(Counter(row.status for row in rows).items()))


def counts_by_outcome(rows: Iterable[Row]) -> dict[str, int]:
    return dict(sorted(Counter(outcome_key(row.status, row.reason) for row in rows).items()))


def reposts(webhook: SinkCounts) -> int:
    """Return the webhook requests beyond the first per key (absorbed by the receiver)."""
    return sum(record.posts - 1 for record in webhook.keys.values())


def check_duplicates(outcome: Outcome) -> Check:
    attempts = {row.id: row.attempts for row in outcome.rows}
    twice_accepted = {i for i, n in outcome.webhook.accepted().items() if n > 1}
    unrecorded = {i for i, n in outcome.webhook.posts().items() if n > attempts.get(i, 0)}
    twice_written = {i for i, n in outcome.outbox.items() if n > 1}
    two_tasks = {i for i, n in outcome.tasks.items() if n > 1}
    bad = twice_accepted | unrecorded | twice_written | two_tasks
    detail = (
        f"accepted twice at the webhook: {examples(twice_accepted)}; posted more often than "
        f"attempted: {examples(unrecorded)}; twice in the outbox: {examples(twice_written)}; "
        f"two tasks: {examples(two_tasks)}; re-posts absorbed by the receiver's "
        f"de-duplication: {reposts(outcome.webhook)}"
    )
    return Check("no duplicates", not bad, detail)


def check_stuck(outcome: Outcome) -> Check:
    if not outcome.stuck:
        return Check("no row claimed or sending past its lease + 60 s", True, "none seen")
    worst = max(outcome.stuck, key=lambda s: s.overdue_seconds)
    detail = (
        f"{len({s.id for s in outcome.stuck})} rows, e.g. {examples(s.id for s in outcome.stuck)}; "
        f"worst: row {worst.id} {worst.status} {worst.overdue_seconds:.0f} s past its lease"
    )
    return Check("no row claimed or sending past its lease + 60 s", False, detail)


def check_terminal(outcome: Outcome) -> Check:
    open_rows = {row.id for row in outcome.rows if row.status not in TERMINAL}
    no_reason = {row.id for row in outcome.rows if row.status in TERMINAL and not row.reason}
    detail = (
        f"not terminal: {len(open_rows)} ({examples(open_rows)}); terminal without a reason: "
        f"{len(no_reason)} ({examples(no_reason)})"
        + ("" if outcome.drained else "; the drain did not finish before the deadline")
    )
    return Check(
        "every row terminal with a reason",
        not open_rows and not no_reason and outcome.drained,
        detail,
    )


def check_counts(outcome: Outcome) -> Check:
    states = counts_by_state(outcome.rows)
    observed = Counter(counts_by_outcome(outcome.rows))
    expected = outcome.expected
    total = sum(states.values())
    differences = {
        key: (observed.get(key, 0), expected.get(key, 0))
        for key in sorted(set(observed) | set(expected))
        if observed.get(key, 0) != expected.get(key, 0)
    }
    ok = total == len(outcome.rows) == sum(expected.values()) and not differences
    detail = f"{total} rows by state {states}; planned {sum(expected.values())}"
    if differences:
        detail += "; outcome (observed, expected): " + ", ".join(
            f"{key} ({seen}, {want})" for key, (seen, want) in differences.items()
        )
    return Check("counts by state add up", ok, detail)


def check_sinks(outcome: Outcome) -> Check:
    """What the receivers got agrees with the rows: a sent row arrived; what arrived is sent
    (or in ``verify``, for a human to check)."""
    by_id = {row.id: row for row in outcome.rows}

    def sent(channels: frozenset[str]) -> set[int]:
        return {r.id for r in outcome.rows if r.status == "sent" and r.channel in channels}

    def unsent(ids: Iterable[int]) -> set[int]:
        return {i for i in ids if i not in by_id or by_id[i].status not in ("sent", "verify")}

    accepted = set(outcome.webhook.accepted())
    hook_sent = sent(frozenset({"webhook"}))
    outbox_sent = sent(OUTBOX_CHANNELS)
    task_sent = sent(frozenset({"advisor_task"}))
    problems = {
        "sent but not received at the webhook": hook_sent - accepted,
        "received at the webhook but not recorded sent": unsent(accepted),
        "sent but not in the outbox": outbox_sent - set(outcome.outbox),
        "in the outbox but not recorded sent": unsent(outcome.outbox),
        "sent advisor_task rows without a task": task_sent - set(outcome.tasks),
        "tasks of rows not recorded sent": unsent(outcome.tasks),
    }
    failing = {name: ids for name, ids in problems.items() if ids}
    detail = (
        f"webhook: {len(accepted)} accepted, {len(hook_sent)} rows sent, "
        f"{outcome.webhook.invalid} badly signed; outbox: {len(outcome.outbox)} written, "
        f"{len(outbox_sent)} rows sent; tasks: {len(outcome.tasks)}, {len(task_sent)} rows sent"
    )
    for name, ids in failing.items():
        states = Counter(by_id[i].status if i in by_id else "no such row" for i in ids)
        detail += f"; {name}: {len(ids)} ({examples(ids)}; {dict(states)})"
    return Check(
        "the sinks agree with the rows", not failing and outcome.webhook.invalid == 0, detail
    )


def check_chaos(outcome: Outcome) -> Check:
    """The run did what it claims: every planned event fired and the terminate cut something.

    A process that exited by itself is reported here but fails nothing: the harness restarts
    it at once, as any supervisor would, and what it left behind is judged by the other checks.
    """
    problems = []
    if outcome.events_fired < outcome.events_planned:
        problems.append(f"only {outcome.events_fired} of {outcome.events_planned} events fired")
    if outcome.terminated_backends == 0:
        problems.append("pg_terminate_backend found no engine connection")
    detail = "; ".join(problems) or f"{outcome.events_fired} events fired"
    if outcome.terminated_backends:
        detail += f"; {outcome.terminated_backends} backends terminated"
    for exit_ in outcome.unexpected_exits:
        detail += f"; {exit_['member']} exited by itself (status {exit_['status']}), restarted"
    return Check("the chaos happened", not problems, detail)


def check_outcome(outcome: Outcome) -> list[Check]:
    """Run every check; a run passes when all of them are ok."""
    return [
        check_duplicates(outcome),
        check_stuck(outcome),
        check_terminal(outcome),
        check_counts(outcome),
        check_sinks(outcome),
        check_chaos(outcome),
    ]


def stuck_rows(rows: Iterable[tuple[int, str, datetime | None]], now: datetime) -> list[Stuck]:
    """Return the rows among (id, status, lease_until) that are stuck at ``now``."""
    found = []
    for delivery_id, status, lease_until in rows:
        if status not in ("claimed", "sending"):
            continue
        # A row held without a lease is stuck at once: the sweeper never takes it back.
        if lease_until is None or (now - lease_until).total_seconds() > STUCK_AFTER_SECONDS:
            found.append(Stuck(delivery_id, status, lease_until, now))
    return found
