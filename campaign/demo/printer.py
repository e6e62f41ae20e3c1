"""Print what the engine does as it does it: each message from the outbox, each advisor task.

The worker processes write messages to the log channel's outbox (one JSON line each) and tasks
to the ``tasks`` table; this module tails the one and polls the other, merges them by virtual
time and prints them under a header line per camp day. It only reads: what it prints is what
the engine recorded.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from campaign.demo.seeding import SeededCamp
from campaign.journeys.calendar import zone
from campaign.models import Delivery, Enrollment, Task

WEEKDAYS = "一二三四五六日"
TEXT_WIDTH = 56  # display columns of the shortened text (a Chinese character takes two)


@dataclass(frozen=True)
class Item:
    """One line to print: a message that went out or a task that was created."""

    at: datetime
    kind: str  # "message" | "task"
    step: str
    channel: str
    who: str
    text: str
    note: str = ""


def shorten(text: str, width: int = TEXT_WIDTH) -> str:
    """Return ``text`` on one line, cut to ``width`` display columns with an ellipsis."""
    flat = " ".join(text.split())
    used, out = 0, []
    for char in flat:
        size = 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if used + size > width - 1:
            out.append("…")
            break
        out.append(char)
        used += size
    return "".join(out)


def pad(text: str, width: int) -> str:
    """Pad ``text`` with spaces to ``width`` display columns (Chinese counts two)."""
    size = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - size, 0)


class Printer:
    """Tail the outbox and the tasks table of one cohort and print new items in time order."""

    def __init__(
        self,
        write: Callable[[str], None],
        sessions: sessionmaker[Session],
        camp: SeededCamp,
        outbox: Path,
        status: Callable[[], str] | None = None,
    ) -> None:
        """:param status: a short text for each day's header (how many enrolled, paid...)."""
        self.write = write
        self.sessions = sessions
        self.camp = camp
        self.outbox = outbox
        self.status = status
        self.tz = zone(camp.timezone)
        self.messages = 0
        self.tasks = 0
        self._offset = 0
        self._last_task = 0
        self._day: int | None = None

    def poll(self, now: datetime) -> None:
        """Print what appeared since the last poll, then a header if ``now`` began a new day."""
        session = self.sessions()
        try:
            items = self._messages(session) + self._tasks(session)
        finally:
            session.close()
        for item in sorted(items, key=lambda i: i.at):
            self._header(item.at)
            self._print(item)
        self._header(now)

    def _header(self, moment: datetime) -> None:
        day, local = self.camp.camp_time(moment)
        if self._day is not None and day <= self._day:
            return
        self._day = day
        label = f"D{day} · {local.month}月{local.day}日 周{WEEKDAYS[local.weekday()]}"
        extra = f"  ({self.status()})" if self.status else ""
        self.write(f"\n── {label} {'─' * max(40 - len(label), 4)}{extra}")

    def _print(self, item: Item) -> None:
        local = item.at.astimezone(self.tz)
        channel = item.channel if item.kind == "message" else f"task·{item.channel}"
        note = f"  [{item.note}]" if item.note else ""
        self.write(
            f"  {local:%H:%M}  {pad(channel, 14)} {pad(item.step, 22)} → {pad(item.who, 10)} "
            f"{shorten(item.text)}{note}"
        )
        if item.kind == "message":
            self.messages += 1
        else:
            self.tasks += 1

    def _messages(self, session: Session) -> list[Item]:
        records = self._new_records()
        if not records:
            return []
        ids = [int(r.get("delivery_id") or 0) for r in records]
        ours = {
            delivery_id: (str(audience), advisor_id)
            for delivery_id, audience, advisor_id in session.execute(
                select(Delivery.id, Delivery.audience, Delivery.advisor_id).where(
                    Delivery.id.in_(ids), Delivery.cohort_id == self.camp.cohort_id
                )
            )
        }
        items = []
        for record, delivery_id in zip(records, ids, strict=True):
            if delivery_id not in ours:
                continue  # another cohort's message in a shared outbox
            audience, advisor_id = ours[delivery_id]
            recipient = record.get("recipient") or {}
            if audience == "cohort":
                who = "班级群"
            elif audience == "advisor":
                who = f"班主任 {self.camp.advisors.get(advisor_id or 0, '')}"
            else:
                who = str(recipient.get("name") or "?")
            items.append(
                Item(
                    at=datetime.fromisoformat(str(record["at"])),
                    kind="message",
                    step=str(record.get("step")),
                    channel=str(record.get("channel")),
                    who=who,
                    text=str(record.get("text") or ""),
                )
            )
        return items

    def _new_records(self) -> list[dict[str, Any]]:
        """Read the complete lines appended to the outbox since the last call."""
        if not self.outbox.exists():
            return []
        with open(self.outbox, "rb") as file:
            file.seek(self._offset)
            chunk = file.read()
        complete, newline, _ = chunk.rpartition(b"\n")
        if not newline:
            return []
        self._offset += len(complete) + 1
        records = []
        for raw in complete.split(b"\n"):
            try:
                record = json.loads(raw)
            except ValueError:
                continue  # a torn line left by a writer that died mid-line
            if isinstance(record, dict) and "at" in record:
                records.append(record)
        return records

    def _tasks(self, session: Session) -> list[Item]:
        rows = session.execute(
            select(Task, Enrollment.learner_id)
            .outerjoin(Enrollment, Enrollment.id == Task.enrollment_id)
            .where(Task.cohort_id == self.camp.cohort_id, Task.id > self._last_task)
            .order_by(Task.id)
        ).all()
        items = []
        for task, learner_id in rows:
            self._last_task = max(self._last_task, task.id)
            advisor = self.camp.advisors.get(task.advisor_id or 0, "")
            who = self.camp.names.get(learner_id, "?") if learner_id else "(班级)"
            due = task.due_at.astimezone(self.tz)
            note = f"{'语音 · ' if task.voice else ''}{due:%H:%M} 前"
            items.append(
                Item(task.created_at, "task", task.step_key, advisor, who, task.script, note)
            )
        return items
