"""Heartbeats: when a process counts as alive, how the beat lives in Redis, the HTTP probe."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
import redis

from campaign.health import (
    HEARTBEAT_INDEX,
    Beat,
    HealthServer,
    Heartbeat,
    read_beats,
    running,
    summarize,
)
from campaign.metrics import heartbeat_metrics
from tests.e2e.conftest import wait_for
from tests.ops.helpers import samples


@dataclass
class FakeTime:
    """A clock the test moves (time.time's stand-in)."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def beat(**fields: object) -> Beat:
    values: dict[str, object] = {"kind": "dispatcher", "host": "h", "pid": 1, "started_at": 0.0}
    return Beat(**(values | fields))  # type: ignore[arg-type]


def test_a_beat_is_alive_while_its_loop_ticks_in_time() -> None:
    assert not beat().alive(100.0)  # no tick yet
    assert beat().state(100.0) == "starting"
    assert beat(at=90.0, stale_after=10.0).alive(100.0)
    assert not beat(at=89.0, stale_after=10.0).alive(100.0)
    assert beat(at=89.0, tried_at=99.0, stale_after=10.0).state(100.0) == "stale"
    # A worker in a long job is alive until the job's time is up, not longer.
    assert beat(at=0.0, busy_until=150.0).alive(100.0)
    assert not beat(at=0.0, busy_until=99.0).alive(100.0)


def test_summary_counts_alive_and_stale_per_kind_and_names_the_missing() -> None:
    beats = [
        beat(at=99.0),
        beat(kind="worker", pid=2, at=99.0),
        beat(kind="worker", pid=3, at=0.0),
    ]
    summary = summarize(beats, 100.0)
    assert summary.alive == {"dispatcher": 1, "worker": 1}
    assert summary.stale == {"dispatcher": 0, "worker": 1}
    assert summary.missing(["dispatcher", "worker"]) == []
    assert summarize(beats[2:], 100.0).missing(["dispatcher", "worker"]) == [
        "dispatcher",
        "worker",
    ]


def test_a_beat_survives_its_json_and_tells_its_details() -> None:
    original = beat(at=5.0, details={"last_claimed": 3, "claimed_total": 10})
    assert Beat.from_json(original.to_json()) == original
    line = original.describe(6.0)
    assert "dispatcher" in line and "ok" in line and "claimed 3 in the last pass" in line


def test_ticks_note_success_failure_and_details() -> None:
    clock = FakeTime()
    heartbeat = Heartbeat("dispatcher", stale_after=10, clock=clock)
    assert not heartbeat.healthy()
    heartbeat.tick(last_claimed=5)
    clock.now += 5
    heartbeat.tick(ok=False)  # a failed pass: the last good one still counts, for a while
    assert heartbeat.healthy()
    assert heartbeat.snapshot().details == {"last_claimed": 5}
    clock.now += 6
    assert not heartbeat.healthy()
    heartbeat.count("jobs_total")
    heartbeat.count("jobs_total")
    assert heartbeat.snapshot().details["jobs_total"] == 2


def test_the_heartbeat_lives_in_redis_with_a_ttl_and_goes_when_stopped(
    redis_client: redis.Redis,
) -> None:
    heartbeat = Heartbeat("worker", redis_client, interval=0.2, details={"queues": ["q"]})
    heartbeat.tick()
    with heartbeat:
        wait_for(lambda: read_beats(redis_client), timeout=5, what="the published heartbeat")
        (found,) = read_beats(redis_client)
        assert found.kind == "worker" and found.details == {"queues": ["q"]}
        assert redis_client.pttl(heartbeat.key) <= 1000  # three intervals at most
    assert redis_client.exists(heartbeat.key) == 0  # a clean stop removes it at once
    assert read_beats(redis_client) == []


def test_a_heartbeat_no_longer_published_expires_and_leaves_the_index(
    redis_client: redis.Redis,
) -> None:
    heartbeat = Heartbeat("dispatcher", redis_client, interval=0.2)  # lives 1 s
    heartbeat.tick()
    heartbeat.publish()  # once, as if the process died right after
    assert [b.pid for b in read_beats(redis_client)] == [heartbeat.snapshot().pid]
    time.sleep(1.2)
    assert read_beats(redis_client) == []
    assert redis_client.zcard(HEARTBEAT_INDEX) == 0


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_probe_answers_200_while_the_loop_ticks_and_503_when_it_stops() -> None:
    clock = FakeTime()
    heartbeat = Heartbeat("dispatcher", stale_after=10, clock=clock, host="h", pid=7)
    server = HealthServer(heartbeat, "127.0.0.1", 0, heartbeat_metrics(heartbeat)).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert get(f"{base}/healthz")[0] == 503  # no pass yet
        heartbeat.tick(last_claimed=4, claimed_total=9, passes_total=2)
        status, body = get(f"{base}/healthz")
        assert status == 200
        report = json.loads(body)
        assert report["status"] == "ok" and report["pid"] == 7
        assert report["details"]["last_claimed"] == 4
        status, text = get(f"{base}/metrics")
        found = samples(text.decode())
        assert found[("campaign_process_healthy", ())] == 1
        assert found[("campaign_dispatcher_claimed_total", ())] == 9
        assert found[("campaign_dispatcher_last_claimed", ())] == 4
        clock.now += 11
        status, body = get(f"{base}/healthz")
        assert status == 503 and json.loads(body)["status"] == "stale"
        assert get(f"{base}/nothing")[0] == 404
    finally:
        server.stop()


def test_running_serves_the_probe_only_for_the_block(redis_client: redis.Redis) -> None:
    heartbeat = Heartbeat("worker", redis_client, interval=0.2)
    heartbeat.tick()
    with running(heartbeat, port=0) as server:
        assert server is not None
        assert get(f"http://127.0.0.1:{server.port}/healthz")[0] == 200
        port = server.port
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert read_beats(redis_client) == []
