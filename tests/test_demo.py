"""``campaign demo`` end to end: real dispatcher, worker, web console and embedded Redis.

The demo runs as a user would run it, in a subprocess (a private instance folder, SQLite, the
embedded Redis), with few learners at a very high speed. It must finish, print messages and
advisor tasks, print a summary that accounts for every delivery, and leave no process behind,
also when it is stopped with Ctrl-C part-way; its console must let the printed demo users in.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.demo.seeding import ADVISORS, DEMO_PASSWORD, seed_users
from campaign.models import Advisor, Role, User

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


def signins(output: str) -> dict[str, tuple[str, str]]:
    """Return the printed demo sign-ins: username -> (password, role)."""
    part = output[output.index("sign in as") :].splitlines()[1:]
    found = {}
    for line in part:
        cells = line.split()
        if not line.startswith("  ") or len(cells) < 3:
            break
        found[cells[0]] = (cells[1], cells[2])
    return found


class Browser:
    """A cookie-keeping HTTP client that signs in through the console's form (with CSRF)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(self.url + path.lstrip("/"), timeout=30) as response:
            return response.status, response.read().decode()

    def sign_in(self, username: str, password: str) -> tuple[int, str, str]:
        """Post the login form; return the status, final URL and page after the redirect."""
        _, page = self.get("login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, "the login form carries no CSRF token"
        form = {"username": username, "password": password, "csrf_token": token[1]}
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.url + "login", data=data, timeout=30) as response:
            return response.status, response.url, response.read().decode()


def port_open(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((parts.hostname, parts.port)) == 0


def test_the_demo_runs_the_camp_and_accounts_for_every_delivery(instance: Path) -> None:
    started = time.monotonic()
    result = campaign(
        "demo",
        "--learners",
        LEARNERS,
        "--speed",
        SPEED,
        "--once",  # exit at the end instead of keeping the console up
        env=demo_env(instance),
        timeout=300,
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
    assert re.search(r"^console: http://127\.0\.0\.1:\d+/", out, re.M)
    assert "console is still at" not in out  # --once: no browsing after the camp
    assert processes_of(instance) == []


def test_an_advisor_signs_in_to_the_console_then_ctrl_c_stops_everything(instance: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", CAMPAIGN, "demo", "--learners", LEARNERS, "--speed", SPEED],
        cwd=ROOT,
        env=demo_env(instance),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert process.stdout is not None
        first_advisor = ADVISORS[0][0]
        for line in process.stdout:  # until the first advisor has a task: the camp is on
            lines.append(line)
            if re.match(rf"^  \d\d:\d\d  task·{first_advisor} ", line):
                break
        out = "".join(lines)
        url = re.search(r"^console: (http://127\.0\.0\.1:\d+/)", out, re.M)
        assert url, out[-3000:]
        users = signins(out)
        assert {name: role for name, (_, role) in users.items()} == {
            "admin": "admin",
            "marketer": "marketer",
            "advisor1": "advisor",
            "advisor2": "advisor",
            "advisor3": "advisor",
        }
        assert processes_of(instance), "the engine processes should be running"

        browser = Browser(url[1])
        status, landed, page = browser.sign_in("advisor1", users["advisor1"][0])
        assert status == 200 and landed.endswith("/advisor/tasks"), landed
        status, page = browser.get("advisor/tasks?all=1")
        assert status == 200
        learner = re.search(rf"task·{first_advisor} +\S+ +→ (\S+)", lines[-1])
        assert learner and learner[1] in page  # the task just printed is in the queue
    finally:
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=90)
    out = "".join(lines) + rest
    assert process.returncode == 0, errors[-3000:]
    assert "Summary (stopped early by Ctrl-C)" in out
    planned, states, total = summary_numbers(out)
    assert planned == total == sum(states.values()) == count_in(instance, "deliveries")
    assert states.get("pending", 0) > 0  # the rest of the camp was never due
    assert processes_of(instance) == []
    assert not port_open(url[1])  # the web console is gone with the rest


def test_demo_users_are_seeded_once_and_linked_to_the_demo_advisors(session: Session) -> None:
    taken = User(username="marketer", display_name="Mia", role=Role.MARKETER)
    taken.set_password("someone's own password")
    session.add(taken)
    session.flush()
    first = seed_users(session)
    session.commit()
    again = seed_users(session)  # a second run on the same database
    session.commit()
    assert first == again
    assert [(s.username, s.role) for s in first] == [
        ("admin", Role.ADMIN),
        ("marketer", Role.MARKETER),
        ("advisor1", Role.ADVISOR),
        ("advisor2", Role.ADVISOR),
        ("advisor3", Role.ADVISOR),
    ]
    passwords = {s.username: s.password for s in first}
    assert passwords.pop("marketer") is None  # an existing account keeps its password
    assert set(passwords.values()) == {DEMO_PASSWORD}
    assert session.scalar(select(User).where(User.username == "marketer")) is taken
    for number, (name, userid) in enumerate(ADVISORS, start=1):
        user = session.scalar(select(User).where(User.username == f"advisor{number}"))
        assert user is not None and user.check_password(DEMO_PASSWORD)
        advisor = session.get(Advisor, user.advisor_id)
        assert advisor is not None and (advisor.name, advisor.wecom_userid) == (name, userid)
    assert len(session.scalars(select(User)).all()) == 5
