"""Write what became of a batch's rows: per-row updates in one statement per shape, channel
outcomes in small groups with the tasks they create, and the count of outcomes.

Every write names the claim token and the states it expects, so a row taken elsewhere (the
sweeper, a newer job) is left alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, or_, text
from sqlalchemy.orm import Session

from campaign.clock import Clock
from campaign.db import array_literal
from campaign.messages.batch_facts import Target
from campaign.messages.settings import SendSettings
from campaign.models import Delivery, DeliveryStatus, Task

IN_FLIGHT = (DeliveryStatus.SENDING, DeliveryStatus.VERIFY)
RECORD_EVERY_ROWS = 100
"""Outcomes are written after this many sends…"""
RECORD_EVERY_SECONDS = 0.5
"""…or this long after the last write, whichever comes first: a worker that dies loses at
most this much to ``verify``, and a batch costs a few commits, not one per row."""


@dataclass
class BatchResult:
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str, times: int = 1) -> None:
        if times:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + times


@dataclass(frozen=True)
class Outcome:
    """What a channel call came to: the row's new values, and a task to create with them."""

    label: str
    values: dict[str, Any]
    task: dict[str, Any] | None = None


class OutcomeRecorder:
    """Write channel outcomes in small groups, with the tasks they create, and keep the
    ``sending`` lease of the rows still waiting for their turn alive."""

    def __init__(
        self,
        session: Session,
        token: str,
        clock: Clock,
        settings: SendSettings,
        result: BatchResult,
    ) -> None:
        self.session, self.token, self.clock = session, token, clock
        self.settings, self.result = settings, result
        self.pending: list[tuple[int, Outcome]] = []
        self.written_at = time.monotonic()
        self.leased_at = time.monotonic()
        self.lease_real_seconds = self._real_seconds(settings.send_lease)

    def add(self, target: Target, outcome: Outcome) -> None:
        self.pending.append((target.delivery.id, outcome))
        if (
            len(self.pending) >= RECORD_EVERY_ROWS
            or time.monotonic() - self.written_at >= RECORD_EVERY_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """Write what is pending in one transaction; if that fails, row by row (a bad row
        must not keep the others from their record)."""
        pending, self.pending = self.pending, []
        self.written_at = time.monotonic()
        if not pending:
            return
        try:
            self._write(pending)
        except Exception:
            self.session.rollback()
            for one in pending:
                try:
                    self._write([one])
                except Exception as exc:
                    self.session.rollback()
                    failed = Outcome(
                        "failed",
                        {"status": DeliveryStatus.FAILED, "reason": f"could not record: {exc}"},
                    )
                    self._write([(one[0], failed)])
                    continue
            return

    def _write(self, outcomes: list[tuple[int, Outcome]]) -> None:
        now = self.clock.now()
        tasks = [outcome.task for _, outcome in outcomes if outcome.task is not None]
        if tasks:
            self.session.execute(insert(Task), tasks)
        writes = RowWrites()
        for delivery_id, outcome in outcomes:
            writes.add(delivery_id, **outcome.values)
        writes.apply(self.session, self.token, expect=IN_FLIGHT, now=now)
        self.session.commit()  # a task and its row's "sent" land together, or neither does
        for _, outcome in outcomes:
            self.result.count(outcome.label)

    def renew_lease_if_due(self) -> None:
        """Push the lease of this batch's ``sending`` rows on when half of it has passed, so a
        long batch on a slow channel is not taken for a dead one by the sweeper."""
        if time.monotonic() - self.leased_at < self.lease_real_seconds / 2:
            return
        self.flush()
        now = self.clock.now()
        table = Delivery.__table__
        self.session.execute(
            table.update()
            .where(table.c.claim_token == self.token, table.c.status == DeliveryStatus.SENDING)
            .values(lease_until=now + self.settings.send_lease, updated_at=now)
        )
        self.session.commit()
        self.leased_at = time.monotonic()

    def _real_seconds(self, span: timedelta) -> float:
        real = self.clock.sleep_seconds(span)
        return real if real > 0 else span.total_seconds()


class RowWrites:
    """Per-row updates of delivery rows, written as one statement per shape of update.

    On PostgreSQL each shape is one ``UPDATE … FROM unnest(arrays)``: one statement and one
    parameter per column however many rows, where an ``executemany`` costs a round of
    parameter handling per row on both sides. Elsewhere an ``executemany``.
    """

    def __init__(self) -> None:
        self.groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def add(self, delivery_id: int, **values: Any) -> None:
        if isinstance(values.get("reason"), str):
            values["reason"] = values["reason"][:200]
        key = tuple(sorted(values))
        self.groups.setdefault(key, []).append({"row_id": delivery_id, **values})

    def apply(
        self,
        session: Session,
        token: str,
        *,
        expect: tuple[DeliveryStatus, ...],
        now: datetime,
    ) -> None:
        """Write every group; each row only if it still carries ``token`` in an ``expect``ed
        state (the rows are locked or in flight under our token: a guard, not a race)."""
        arrays = session.get_bind().dialect.name == "postgresql"
        for columns, rows in self.groups.items():
            if arrays:
                _update_from_arrays(session, token, expect, now, columns, rows)
            else:
                _update_many(session, token, expect, now, columns, rows)
        self.groups = {}


def _update_many(
    session: Session,
    token: str,
    expect: tuple[DeliveryStatus, ...],
    now: datetime,
    columns: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    table = Delivery.__table__
    statement = (
        table.update()
        .where(
            table.c.id == bindparam("row_id"),
            table.c.claim_token == token,
            or_(*(table.c.status == status for status in expect)),  # no IN: executemany
        )
        .values(
            {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns}
            | {"updated_at": now}
        )
    )
    session.execute(
        statement,
        [{"row_id": row["row_id"]} | {f"v_{k}": row[k] for k in columns} for row in rows],
    )


def _update_from_arrays(
    session: Session,
    token: str,
    expect: tuple[DeliveryStatus, ...],
    now: datetime,
    columns: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    """``UPDATE deliveries … FROM unnest(:ids, :col…)``: the whole group in one statement."""
    table = Delivery.__table__
    dialect = session.get_bind().dialect
    casts = [f"CAST(:a_{name} AS {table.c[name].type.compile(dialect)}[])" for name in columns]
    # Parameters are array literals (campaign.db.array_literal): cheaper than list adaptation.
    sql = (
        "UPDATE deliveries AS d SET "
        + ", ".join(f"{name} = v.{name}" for name in columns)
        + ", updated_at = :now"
        + f" FROM unnest(CAST(:ids AS INTEGER[]), {', '.join(casts)})"
        + f" AS v(id, {', '.join(columns)})"
        + " WHERE d.id = v.id AND d.claim_token = :token AND d.status = ANY(:expect)"
    )
    params: dict[str, Any] = {
        "ids": array_literal(row["row_id"] for row in rows),
        "now": now,
        "token": token,
        "expect": [str(status) for status in expect],
    }
    for name in columns:
        params[f"a_{name}"] = array_literal(row[name] for row in rows)
    session.execute(text(sql), params)
