"""Real ``campaign dispatcher`` and ``campaign worker`` processes: heartbeats, probes, ``health``.

Each process publishes its heartbeat to the test's private Redis and, with ``--health-port``
(or ``CAMPAIGN_HEALTH_PORT``), answers ``GET /healthz`` itself. ``campaign health`` lists the
heartbeats and fails when a kind has no live process: after a SIGKILL within the key's short
life, after a clean stop at once.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from campaign import migrations
from tests.e2e.conftest import CAMPAIGN, Processes, RedisServer, free_port, wait_for
from tests.ops.helpers import campaign_env, closed_port_url, run_campaign, samples

FAST = {"HEARTBEAT_SECONDS": "0.5", "HEALTH_STALE_SECONDS": "5"}  # keys live 1.5 s


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def migrated_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'campaign.db'}"
    migrations.upgrade(url)
    return url


def test_a_dispatcher_beats_answers_its_probe_and_drops_out_when_killed(
    processes: Processes, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = campaign_env(
        tmp_path / "instance",
        DATABASE_URL=migrated_sqlite(tmp_path),
        REDIS_URL=redis_server.url,
        **FAST,
    )
    port = free_port()
    dispatcher = processes.spawn(
        "dispatcher", [str(CAMPAIGN), "dispatcher", "--health-port", str(port)], env
    )
    probe = f"http://127.0.0.1:{port}/healthz"
    wait_for(lambda: get(probe)[0] == 200, timeout=60, what="the dispatcher's probe", every=0.2)
    report = json.loads(get(probe)[1])
    assert report["kind"] == "dispatcher" and report["pid"] == dispatcher.pid
    assert report["details"]["passes_total"] >= 1
    assert report["details"]["last_claimed"] == 0

    own = samples(get(f"http://127.0.0.1:{port}/metrics")[1].decode())
    assert own[("campaign_process_healthy", ())] == 1
    assert own[("campaign_dispatcher_passes_total", ())] >= 1

    listed = run_campaign(["health", "--kind", "dispatcher"], env)
    assert listed.returncode == 0, listed.stderr
    assert f":{dispatcher.pid}" in listed.stdout and " ok " in listed.stdout
    assert "dispatcher: 1 alive" in listed.stdout
    as_json = json.loads(run_campaign(["health", "--kind", "dispatcher", "--json"], env).stdout)
    assert as_json["ok"] is True
    assert [p["pid"] for p in as_json["processes"]] == [dispatcher.pid]

    dispatcher.kill9()  # no clean-up: the key runs out by itself
    wait_for(
        lambda: run_campaign(["health", "--kind", "dispatcher"], env).returncode == 1,
        timeout=20,
        what="the killed dispatcher's heartbeat to expire",
        every=0.5,
    )
    gone = run_campaign(["health", "--kind", "dispatcher"], env)
    assert "no live dispatcher" in gone.stderr


def test_a_worker_beats_while_idle_and_leaves_at_once_when_stopped(
    processes: Processes, redis_server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    env = campaign_env(
        tmp_path / "instance",
        DATABASE_URL=migrated_sqlite(tmp_path),
        REDIS_URL=redis_server.url,
        HEALTH_PORT=str(port),  # the variable instead of --health-port
        **FAST,
    )
    worker = processes.spawn("worker", [str(CAMPAIGN), "worker", "--channel", "email"], env)
    probe = f"http://127.0.0.1:{port}/healthz"
    wait_for(lambda: get(probe)[0] == 200, timeout=60, what="the worker's probe", every=0.2)
    # Idle on an empty queue RQ blocks between heartbeats: the probe must stay green.
    for _ in range(7):  # longer than the 5 s after which a silent loop counts as stale
        assert get(probe)[0] == 200
        time.sleep(1)
    report = json.loads(get(probe)[1])
    assert report["details"]["queues"] == ["campaign:email"]

    both = run_campaign(["health"], env)  # no dispatcher runs
    assert both.returncode == 1
    assert "worker: 1 alive" in both.stdout
    assert "no live dispatcher" in both.stderr
    assert run_campaign(["health", "--kind", "worker"], env).returncode == 0

    worker.stop(timeout=20)
    assert worker.popen.returncode == 0
    assert run_campaign(["health", "--kind", "worker"], env).returncode == 1


def test_a_dispatcher_whose_passes_fail_is_reported_unhealthy(
    processes: Processes, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = campaign_env(
        tmp_path / "instance",
        DATABASE_URL=f"sqlite:///{tmp_path / 'never-migrated.db'}",  # every pass fails
        REDIS_URL=redis_server.url,
        **FAST,
    )
    port = free_port()
    processes.spawn("dispatcher", [str(CAMPAIGN), "dispatcher", "--health-port", str(port)], env)
    probe = f"http://127.0.0.1:{port}/healthz"
    wait_for(lambda: get(probe)[0] == 503, timeout=60, what="the probe to answer", every=0.2)
    assert json.loads(get(probe)[1])["status"] == "stale"
    listed = run_campaign(["health", "--kind", "dispatcher"], env)
    assert listed.returncode == 1
    assert "dispatcher: 0 alive (1 stale)" in listed.stdout


def test_health_without_a_reachable_redis_exits_2(tmp_path: Path) -> None:
    down = campaign_env(tmp_path / "instance", REDIS_URL=closed_port_url())
    result = run_campaign(["health", "--timeout", "1"], down)
    assert result.returncode == 2
    assert "cannot read the heartbeats" in result.stderr
    unset = run_campaign(["health"], campaign_env(tmp_path / "instance"))
    assert unset.returncode == 2
    assert "no Redis configured" in unset.stderr
