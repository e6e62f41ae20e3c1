"""Redis behind Sentinel: the settings, the URL, and a real fail-over the clients follow.

A private master, a replica of it and one sentinel (``redis-server --sentinel``) run on free
local ports for the test; the shared Redis on this machine is not touched.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from campaign.queues import QueueName, queue
from campaign.redis_server import SentinelTarget, configured_url, connect, sentinel_target
from tests.e2e.conftest import Proc, Processes, free_port, wait_for

MASTER = "campaign-test"


def test_sentinel_urls_round_trip_with_credentials() -> None:
    target = SentinelTarget(
        sentinels=(("10.0.0.1", 26379), ("redis-b", 26380)),
        master="campaign",
        db=2,
        password="p@ss:word",
        sentinel_password="s/ecret",
    )
    url = target.url()
    assert url.startswith("redis+sentinel://:p%40ss%3Aword@10.0.0.1:26379,redis-b:26380/campaign/2")
    assert sentinel_target(url) == target
    assert sentinel_target("redis+sentinel://h1,h2:1/m") == SentinelTarget(
        sentinels=(("h1", 26379), ("h2", 1)), master="m"
    )
    with pytest.raises(ValueError):
        sentinel_target("redis+sentinel://h1:26379")  # no master name


def test_settings_name_the_redis_url_first_then_the_sentinels() -> None:
    assert configured_url({}) is None
    assert configured_url({"REDIS_URL": "redis://r:6379/1"}) == "redis://r:6379/1"
    url = configured_url(
        {"REDIS_SENTINELS": "a:26379, b:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_DB": 3}
    )
    assert url == "redis+sentinel://a:26379,b:26379/m/3"
    listed = configured_url({"REDIS_SENTINELS": ["a:1", "b:2"], "REDIS_SENTINEL_MASTER": "m"})
    assert listed == "redis+sentinel://a:1,b:2/m/0"
    with pytest.raises(ValueError, match="REDIS_SENTINEL_MASTER"):
        configured_url({"REDIS_SENTINELS": "a:26379"})


@dataclass
class Topology:
    master_port: int
    replica_port: int
    sentinel_port: int
    master: Proc

    @property
    def settings(self) -> dict[str, str]:
        return {
            "REDIS_SENTINELS": f"127.0.0.1:{self.sentinel_port}",
            "REDIS_SENTINEL_MASTER": MASTER,
        }


def _ping(port: int) -> bool:
    try:
        with redis.Redis(port=port, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except redis.ConnectionError:
        return False


def _master_of(sentinel_port: int) -> int | None:
    try:
        with redis.Redis(port=sentinel_port, socket_connect_timeout=0.5) as client:
            address = client.sentinel_get_master_addr_by_name(MASTER)
    except redis.ConnectionError:
        return None
    return int(address[1]) if address else None


@pytest.fixture
def topology(processes: Processes, tmp_path: Path) -> Iterator[Topology]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is needed for the Sentinel tests; install redis", False)
    ports = free_port(), free_port(), free_port()
    master_port, replica_port, sentinel_port = ports
    base = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    folders = [tmp_path / name for name in ("master", "replica", "sentinel")]
    for folder in folders:
        folder.mkdir()
    master = processes.spawn(
        "redis-master", [*base, "--port", str(master_port), "--dir", str(folders[0])]
    )
    wait_for(lambda: _ping(master_port), timeout=10, what="the master")
    processes.spawn(
        "redis-replica",
        [*base, "--port", str(replica_port), "--dir", str(folders[1]),
         "--replicaof", "127.0.0.1", str(master_port)],
    )  # fmt: skip

    def replica_in_sync() -> bool:
        try:
            with redis.Redis(port=replica_port, socket_connect_timeout=0.5) as client:
                return client.info("replication").get("master_link_status") == "up"
        except redis.ConnectionError:
            return False

    wait_for(replica_in_sync, timeout=20, what="the replica to sync")
    config = folders[2] / "sentinel.conf"  # sentinel rewrites its file: a private, writable one
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {folders[2]}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\n"
        f"sentinel failover-timeout {MASTER} 5000\n",
        encoding="utf-8",
    )
    processes.spawn("redis-sentinel", [binary, str(config), "--sentinel"])
    wait_for(lambda: _master_of(sentinel_port) == master_port, timeout=20, what="the sentinel")
    yield Topology(master_port, replica_port, sentinel_port, master)


def test_clients_find_the_master_through_sentinel_and_follow_a_fail_over(
    topology: Topology,
) -> None:
    url = configured_url(topology.settings)
    assert url is not None
    client = connect(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        log_queue = queue(QueueName.LOG, client)
        log_queue.enqueue("campaign.messages.jobs.send_batch_job", [1], "token")
        assert log_queue.count == 1
        with redis.Redis(port=topology.master_port) as direct:
            assert direct.llen(log_queue.key) == 1  # it went to the master

        # The sentinel must know the replica before it can promote it.
        def replica_known() -> bool:
            with redis.Redis(port=topology.sentinel_port) as sentinel:
                return bool(sentinel.sentinel_slaves(MASTER))

        wait_for(replica_known, timeout=30, what="the sentinel to see the replica", every=0.2)
        topology.master.kill9()
        wait_for(
            lambda: _master_of(topology.sentinel_port) == topology.replica_port,
            timeout=60,
            what="the sentinel to promote the replica",
            every=0.2,
        )

        def writes_again() -> bool:
            try:
                client.set("after-failover", "1")
            except redis.ConnectionError:
                return False
            return True

        wait_for(writes_again, timeout=30, what="the client to reach the new master", every=0.2)
        with redis.Redis(port=topology.replica_port) as promoted:
            assert promoted.get("after-failover") == b"1"
        assert queue(QueueName.LOG, client).count == 1  # the replicated job survived
    finally:
        client.close()
