"""Share each learner's daily cap of automated 1v1 messages among the steps that want it.

The governor allows at most ``caps.automated_1v1_per_day`` automated 1v1 sends per learner per
local day. When more would go out, the higher ``priority`` wins (the earlier send on a tie); a
loser with ``over_cap: hold`` waits for the next local day with room, as long as it can still go
out before its expiry; otherwise it is held back with the reason ``cap``.

The simulator collects every automated send that passed all other checks, then allocates here,
learner by learner, day by day. Because the allocation sees the whole day at once, a condition on
the ``outcome`` of an automated step sees it as sent even when the cap later holds it back; the
report's counts are exact.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import NamedTuple


class CapCandidate(NamedTuple):
    """One automated 1v1 send waiting for the cap."""

    learner: int
    day: int  # the learner's local day number of ``send``
    priority: int
    send: float
    row: int  # index of the report row it counts in
    latest: float  # the last moment it may still go out
    hold: bool  # ``over_cap: hold``
    moved: bool  # already moved out of quiet hours


class CapDecision(enum.StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"  # sent on a later day than planned
    HELD = "held"


NextOpening = Callable[[CapCandidate], tuple[float, int]]
"""Give the send time and local day of a held candidate on the learner's next local day."""


def _rank(candidate: CapCandidate) -> tuple[int, float, int]:
    return (-candidate.priority, candidate.send, candidate.row)


def allocate_caps(
    candidates: list[CapCandidate], cap: int, next_opening: NextOpening
) -> Iterator[tuple[CapCandidate, CapDecision]]:
    """Decide each candidate: sent on its day, deferred to a later day, or held back.

    Yields every candidate exactly once, with the candidate as first planned (so its row and
    ``moved`` flag are those it was collected with).
    """
    by_learner: dict[int, list[CapCandidate]] = defaultdict(list)
    for candidate in candidates:
        by_learner[candidate.learner].append(candidate)
    for own in by_learner.values():
        per_day: dict[int, list[CapCandidate]] = defaultdict(list)
        for candidate in own:
            per_day[candidate.day].append(candidate)
        if all(len(day) <= cap for day in per_day.values()):
            for candidate in own:
                yield candidate, CapDecision.SENT
            continue
        yield from _allocate_learner(per_day, cap, next_opening)


def _allocate_learner(
    per_day: dict[int, list[CapCandidate]], cap: int, next_opening: NextOpening
) -> Iterator[tuple[CapCandidate, CapDecision]]:
    # ``waiting`` pairs a held candidate as it now stands with the candidate as first planned.
    waiting: list[tuple[CapCandidate, CapCandidate]] = []
    days = sorted(per_day)
    position = 0
    while position < len(days) or waiting:
        if waiting and (position == len(days) or waiting[0][0].day < days[position]):
            day = waiting[0][0].day
        else:
            day = days[position]
            position += 1
        today = [(c, c) for c in per_day.get(day, ())]
        today += [pair for pair in waiting if pair[0].day == day]
        waiting = [pair for pair in waiting if pair[0].day != day]
        today.sort(key=lambda pair: _rank(pair[0]))
        for rank, (current, original) in enumerate(today):
            if rank < cap:
                late = current is not original
                yield original, CapDecision.DEFERRED if late else CapDecision.SENT
                continue
            if current.hold:
                send, next_day = next_opening(current)
                if send <= current.latest and next_day > day:
                    waiting.append((current._replace(send=send, day=next_day), original))
                    continue
            yield original, CapDecision.HELD
        waiting.sort(key=lambda pair: pair[0].day)
