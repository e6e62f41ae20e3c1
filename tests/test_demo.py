"""``campaign demo`` end to end: real dispatcher, worker and embedded Redis processes.

The demo runs as a user would run it, in a subprocess (a private instance folder, SQLite, the
embedded Redis), with few learners at a very high speed. It must finish, print messages and
advisor tasks, print a summary that accounts for every delivery, and leave no process behind,
also when it is stopped with Ctrl-C part-way.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = "import sys; from campaign.commands import main; sys.exit(main())"
SPEED = "40000"  # a camp day in 2.2 s: the whole camp in about 30 s
LEARNERS = "12"


def demo_env(instance: Path) -> dict[str, str]:
    """Return an environment with no CAMPAIGN_* settings but the private instance folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env["CAMPAIGN_INSTANCE_PATH"] = str(instance)
    return env


def campaign(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CAMPAIGN, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def processes_of(instance: Path) -> list[str]:
    """Return the processes that belong to this instance folder: the engine's (by their
    environment) and the embedded redis-server (by its working directory, instance/redis)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone, or not ours to read
        engine = f"CAMPAIGN_INSTANCE_PATH={instance}".encode() in environ.split(b"\0")
        redis = cwd.startswith(str(instance)) and "redis-server" in cmdline
        if engine or redis:
            found.append(f"{entry.name}: {cmdline}")
    return found


def summary_numbers(output: str) -> tuple[int, dict[str, int], int]:
    """Return (deliveries planned, count per state, total line) from the printed summary."""
    planned = int(re.search(r"deliveries planned: (\d+)", output)[1])  # type: ignore[index]
    part = output[output.index("deliveries planned:") :]
    states = {m[1]: int(m[2]) for m in re.finditer(r"^  ([a-z]+) +(\d+)$", part, re.M)}
    total = states.pop("total")
    return planned, states, total


def count_in(instance: Path, table: str) -> int:
    with sqlite3.connect(instance / "campaign.db") as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    folder = tmp_path / "instance"
    result = campaign("db", "upgrade", env=demo_env(folder), timeout=60)
    assert result.returncode == 0, result.stderr
    return folder


def test_the_demo_runs_the_camp_and_accounts_for_every_delivery(instance: Path) -> None:
    started = time.monotonic()
    result = campaign(
        "demo", "--learners", LEARNERS, "--speed", SPEED, env=demo_env(instance), timeout=300
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert elapsed < 240, f"the demo took {elapsed:.0f} s"
    assert "── D1 · " in out and "── D7 · " in out  # a header per camp day
    messages = re.findall(r"^  \d\d:\d\d  (wecom|webhook|log|sms|email) ", out, re.M)
    tasks = re.findall(r"^  \d\d:\d\d  task·", out, re.M)
    assert messages and tasks
    planned, states, total = summary_numbers(out)
    assert planned == total == sum(states.values()) == count_in(instance, "deliveries")
    assert states["sent"] >= len(messages)  # tasks may also come from events (a reply owed)
    assert len(tasks) == count_in(instance, "tasks")
    assert "advisor tasks created: " in out and "converted (paid): " in out
    assert processes_of(instance) == []


def test_ctrl_c_stops_everything_and_still_prints_the_summary(instance: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", CAMPAIGN, "demo", "--learners", LEARNERS, "--speed", SPEED],
        cwd=ROOT,
        env=demo_env(instance),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:  # wait until the camp has begun
        lines.append(line)
        if line.startswith("── D1 · "):
            break
    assert processes_of(instance), "the engine processes should be running"
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=60)
    out = "".join(lines) + rest
    assert process.returncode == 130, errors[-3000:]
    assert "Summary (stopped early by Ctrl-C)" in out
    planned, states, total = summary_numbers(out)
    assert planned == total == sum(states.values()) == count_in(instance, "deliveries")
    assert states.get("pending", 0) > 0  # the rest of the camp was never due
    assert processes_of(instance) == []
