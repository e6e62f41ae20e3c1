"""A worker on several queues takes them in turn, so one busy queue cannot starve another."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue

from campaign.commands.engine import work

ORDER_KEY = "campaign-test:worker-order"


def note(name: str) -> None:
    """The job: write down which queue's job ran."""
    Redis.from_url("redis://127.0.0.1:6379/13").rpush(ORDER_KEY, name)


@pytest.fixture
def redis() -> Iterator[Redis]:
    client = Redis.from_url("redis://127.0.0.1:6379/13")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_a_worker_on_two_queues_takes_them_in_turn(redis: Redis) -> None:
    first, second = (
        Queue("campaign-test-a", connection=redis),
        Queue("campaign-test-b", connection=redis),
    )
    for _ in range(3):
        first.enqueue(note, "a")
    for _ in range(3):
        second.enqueue(note, "b")
    work([first, second], redis, burst=True)
    ran = [one.decode() for one in redis.lrange(ORDER_KEY, 0, -1)]
    assert ran == ["a", "b", "a", "b", "a", "b"]  # RQ's default order would run a, a, a first
