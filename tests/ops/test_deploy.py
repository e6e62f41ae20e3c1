"""The deployment examples under deploy/ work as written.

- gunicorn starts the app with deploy/gunicorn.conf.py and serves the probes and metrics;
- the systemd units and the Procfile run commands ``campaign`` has, with options it accepts
  (and ``systemd-analyze verify`` accepts the units, where it is installed);
- redis.conf and sentinel.conf are accepted by a real ``redis-server`` and set what they say;
- every ``CAMPAIGN_*`` variable of campaign.env.example is a setting the code reads.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import redis

from campaign import migrations
from campaign.commands import main
from campaign.journeys.spec import Channel
from tests.e2e.conftest import Processes, RedisServer, free_port, wait_for
from tests.ops.helpers import ROOT, campaign_env, samples
from tests.ops.test_processes import get

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
VENV_BIN = Path(sys.executable).parent


def unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser


def instances(path: Path) -> list[str]:
    """Return sample instance names for a template unit (``%i``), or [""] for a plain one."""
    if "@" not in path.name:
        return [""]
    if "worker" in path.name:
        return [channel.value for channel in Channel]
    return ["1", "2"]


def check_campaign_command(argv: list[str]) -> None:
    """Fail unless ``campaign ARGV`` names a command and its options parse."""
    name, *args = argv
    command = main.commands.get(name)
    assert command is not None, f"campaign has no command {name!r}"
    try:
        command.make_context(name, list(args))
    except click.ClickException as exc:
        pytest.fail(f"campaign {' '.join(argv)}: {exc.format_message()}")


def check_command(argv: list[str]) -> None:
    program = Path(argv[0]).name
    if program == "campaign":
        check_campaign_command(argv[1:])
    elif program == "gunicorn":
        assert "-c" in argv
        config = argv[argv.index("-c") + 1]
        assert Path(config).name == "gunicorn.conf.py"
        assert argv[-1] == "campaign:create_app()"
    else:
        pytest.fail(f"unexpected program {argv[0]!r}")


@pytest.mark.parametrize("path", UNITS, ids=[p.name for p in UNITS])
def test_systemd_units_run_campaign_commands_that_exist(path: Path) -> None:
    parsed = unit(path)
    assert {"Unit", "Service", "Install"} <= set(parsed.sections())
    service = parsed["Service"]
    assert service["User"] == "campaign"
    assert service["Restart"] in {"always", "on-failure"}
    assert "\nEnvironmentFile=/etc/campaign/campaign.env\n" in path.read_text(encoding="utf-8")
    for instance in instances(path):
        argv = shlex.split(service["ExecStart"].replace("%i", instance))
        assert argv[0].startswith("/"), "systemd wants an absolute path"
        check_command(argv)
    assert parsed["Install"]["WantedBy"] == "multi-user.target"


def test_the_units_cover_web_dispatchers_and_one_queue_per_worker() -> None:
    names = {p.name for p in UNITS}
    assert names == {
        "campaign-web.service",
        "campaign-dispatcher@.service",
        "campaign-worker@.service",
    }
    worker = unit(DEPLOY / "systemd" / "campaign-worker@.service")["Service"]["ExecStart"]
    assert worker.endswith("campaign worker --channel %i")
    dispatcher = unit(DEPLOY / "systemd" / "campaign-dispatcher@.service")["Service"]
    assert "--health-port" in dispatcher["ExecStart"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    """Copies of the units, pointed at this virtualenv, instantiated as systemd would."""
    copies = []
    for path in UNITS:
        text = path.read_text(encoding="utf-8").replace("/srv/campaign/venv/bin", str(VENV_BIN))
        for instance in instances(path):
            name = path.name.replace("@.", f"@{instance}.") if instance else path.name
            (tmp_path / path.name).write_text(text, encoding="utf-8")
            (tmp_path / name).write_text(text, encoding="utf-8")
            copies.append(str(tmp_path / name))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *copies],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warned about


def test_the_procfile_runs_campaign_commands_that_exist() -> None:
    types = {}
    for line in (DEPLOY / "Procfile").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, command = line.partition(":")
        assert re.fullmatch(r"[a-z_]+", name), name
        types[name] = shlex.split(command)
        check_command(types[name])
    assert types["release"] == ["campaign", "db", "upgrade"]
    assert {"web", "dispatcher"} <= set(types)
    queues = {argv[-1] for name, argv in types.items() if name.startswith("worker_")}
    assert queues == {channel.value for channel in Channel}  # one process type per queue


def settings_read_by_the_code() -> str:
    sources = [p.read_text(encoding="utf-8") for p in (ROOT / "campaign").rglob("*.py")]
    sources.append((DEPLOY / "gunicorn.conf.py").read_text(encoding="utf-8"))
    return "\n".join(sources)


def test_every_variable_of_the_env_example_is_read_by_the_code() -> None:
    code = settings_read_by_the_code()
    lines = (DEPLOY / "campaign.env.example").read_text(encoding="utf-8").splitlines()
    names = [
        line.lstrip("# ").split("=", 1)[0] for line in lines if re.match(r"#? ?[A-Z_]+=", line)
    ]
    assert "CAMPAIGN_DATABASE_URL" in names and "CAMPAIGN_REDIS_SENTINELS" in names
    for name in names:
        setting = name.removeprefix("CAMPAIGN_")
        assert f'"{setting}"' in code or f'"{name}"' in code, f"nothing reads {name}"


def test_redis_conf_is_accepted_by_redis_and_never_evicts(
    processes: Processes, tmp_path: Path
) -> None:
    binary = shutil.which("redis-server")
    assert binary is not None
    port = free_port()
    server = processes.spawn(
        "redis-deploy",
        [binary, str(DEPLOY / "redis.conf"), "--port", str(port), "--dir", str(tmp_path),
         "--requirepass", "test-password", "--maxmemory", "64mb"],
    )  # fmt: skip
    client = redis.Redis(port=port, password="test-password", socket_connect_timeout=0.5)
    try:
        wait_for(lambda: _answers(client), timeout=15, what="redis-server with deploy/redis.conf")
        config = client.config_get("*")
        assert config["maxmemory-policy"] == "noeviction"
        assert config["appendonly"] == "yes"
        assert config["appendfsync"] == "everysec"
    finally:
        client.close()
        server.stop()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_sentinel_conf_is_accepted_by_a_sentinel(
    processes: Processes, redis_server: RedisServer, tmp_path: Path
) -> None:
    """The example, pointed at the test's private Redis instead of ``redis-a``."""
    binary = shutil.which("redis-server")
    assert binary is not None
    port = free_port()
    text = (DEPLOY / "sentinel.conf").read_text(encoding="utf-8")
    monitor = "sentinel monitor campaign redis-a 6379 2"
    assert monitor in text
    # One sentinel here, so a quorum of one.
    text = text.replace(monitor, f"sentinel monitor campaign 127.0.0.1 {redis_server.port} 1")
    text = text.replace("port 26379", f"port {port}\nbind 127.0.0.1\ndir {tmp_path}")
    config = tmp_path / "sentinel.conf"
    config.write_text(text, encoding="utf-8")
    processes.spawn("redis-sentinel", [binary, str(config), "--sentinel"])

    def master() -> tuple[str, int] | None:
        try:
            with redis.Redis(port=port, socket_connect_timeout=0.5) as sentinel:
                address = sentinel.sentinel_get_master_addr_by_name("campaign")
        except redis.ConnectionError:
            return None
        if not address:
            return None
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        return host, int(address[1])

    found = wait_for(master, timeout=15, what="the sentinel of deploy/sentinel.conf")
    assert found == ("127.0.0.1", redis_server.port)


def test_gunicorn_serves_the_app_with_the_example_config(
    processes: Processes, redis_server: RedisServer, tmp_path: Path
) -> None:
    gunicorn = VENV_BIN / "gunicorn"
    assert gunicorn.exists(), "gunicorn comes with the test and deploy extras"
    database_url = f"sqlite:///{tmp_path / 'campaign.db'}"
    migrations.upgrade(database_url)
    port = free_port()
    env = campaign_env(
        tmp_path / "instance",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        WEB_BIND=f"127.0.0.1:{port}",
        METRICS_CACHE_SECONDS="0",
    )
    env["WEB_CONCURRENCY"] = "1"  # one worker process is enough to prove it
    server = processes.spawn(
        "gunicorn",
        [str(gunicorn), "-c", str(DEPLOY / "gunicorn.conf.py"), "campaign:create_app()"],
        env,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: get(f"{base}/healthz")[0] == 200, timeout=60, what="gunicorn", every=0.2)
    status, body = get(f"{base}/readyz")
    assert status == 200, body
    status, body = get(f"{base}/metrics")
    assert status == 200
    assert samples(body.decode())[("campaign_deliveries", (("status", "pending"),))] == 0
    server.stop(timeout=30)
    assert server.popen.returncode == 0, server.output()
    assert "Booting worker" in server.output()
