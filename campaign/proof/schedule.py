"""The chaos schedule of a run, and how the fleet's workers share the channel queues."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Event:
    """One act of chaos, fired when ``at`` of the rows are terminal."""

    at: float
    kind: str  # kill, redis, terminate
    fired_after: float | None = None  # seconds into the drain
    detail: str = ""


def plan_events(kills: int, rng: random.Random) -> list[Event]:
    """Kills spread over 5–85 % of the drain, Redis at 25–45 %, the terminate at 50–70 %."""
    events = [Event(rng.uniform(0.05, 0.85), "kill") for _ in range(kills)]
    events.append(Event(rng.uniform(0.25, 0.45), "redis"))
    events.append(Event(rng.uniform(0.50, 0.70), "terminate"))
    return sorted(events, key=lambda e: e.at)


def worker_queues(workers: int, loads: dict[str, int]) -> list[list[str]]:
    """Give each channel's queue a worker (busiest first), then the busiest more workers;
    with fewer workers than channels, a worker takes several queues."""
    channels = [c for c, _ in sorted(loads.items(), key=lambda item: -item[1])]
    if workers < len(channels):
        return [channels[i::workers] for i in range(workers)]
    queues = [[channel] for channel in channels]
    extra = workers - len(channels)
    queues += [[channels[i % len(channels)]] for i in range(extra)]
    return queues
