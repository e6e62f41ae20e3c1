"""What a chaos run returns: the checks, the counts, the timings; as JSON and as a report."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from campaign.proof.checks import Check, Stuck
from campaign.proof.schedule import Event


@dataclass
class ChaosResult:
    """What a run did and whether every check passed."""

    ok: bool
    checks: list[Check]
    config: dict[str, Any]
    deliveries: int
    by_state: dict[str, int]
    by_outcome: dict[str, int]
    events: list[Event]
    timings: dict[str, float]
    sink: dict[str, int]
    retried_rows: int
    dispatchers: list[str]
    unexpected_exits: list[dict[str, Any]]
    stuck: list[Stuck]
    folder: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [check.to_json() for check in self.checks],
            "config": self.config,
            "deliveries": self.deliveries,
            "by_state": self.by_state,
            "by_outcome": self.by_outcome,
            "events": [asdict(event) for event in self.events],
            "timings": self.timings,
            "sink": self.sink,
            "retried_rows": self.retried_rows,
            "dispatchers": self.dispatchers,
            "unexpected_exits": self.unexpected_exits,
            "stuck": [
                {
                    **asdict(s),
                    "lease_until": s.lease_until.isoformat() if s.lease_until else None,
                    "seen_at": s.seen_at.isoformat(),
                }
                for s in self.stuck[:100]
            ],
            "folder": self.folder,
        }

    def report(self) -> str:
        t = self.timings
        kinds = Counter(e.kind for e in self.events if e.fired_after is not None)
        lines = [
            f"chaos: {self.deliveries:,} deliveries, {self.config['dispatchers']} dispatchers + "
            f"{self.config['workers']} workers; {kinds['kill']} kills, {kinds['redis']} Redis "
            f"restart, {kinds['terminate']} connection cut",
            f"  set-up {t['setup_s']:.1f} s, drain {t['drain_s']:.1f} s "
            f"({t['rate_per_s']:,.1f} rows/s), total {t['total_s']:.1f} s",
            f"  by state: {self.by_state}",
            f"  by outcome: {self.by_outcome}",
            f"  webhook: {self.sink['requests']:,} requests, {self.sink['accepted']:,} accepted, "
            f"{self.sink['reposts']:,} re-posts; {self.retried_rows:,} rows needed more than "
            "one attempt",
        ]
        for event in self.events:
            when = f"{event.fired_after:6.1f} s" if event.fired_after is not None else " not fired"
            lines.append(f"  {when} @ {event.at:4.0%} {event.kind}: {event.detail}")
        for exit_ in self.unexpected_exits:
            last = str(exit_.get("tail", "")).strip().splitlines()[-1:] or [""]
            lines.append(
                f"  note: {exit_['member']} (pid {exit_['pid']}) exited by itself with status "
                f"{exit_['status']} and was started again: {last[0][:160]}"
            )
        for check in self.checks:
            lines.append(f"  [{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
        lines.append(f"chaos: {'PASSED' if self.ok else 'FAILED'} (logs in {self.folder})")
        return "\n".join(lines)
