"""Operations tests: health, readiness, metrics, Sentinel and the deployment files.

They reuse the end-to-end tests' real processes: a private ``redis-server`` per test (so nothing
touches a shared Redis), ``campaign`` processes in their own process groups, stopped at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.e2e.conftest import RedisServer, processes, redis_server

__all__ = ["processes", "redis_server"]  # fixtures shared with the end-to-end tests


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the test's private Redis."""
    client = redis_server.client()
    yield client
    client.close()
