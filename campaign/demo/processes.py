"""Start the engine's processes for the demo and stop them, whatever happens.

The dispatcher and the worker are the real ``campaign dispatcher`` and ``campaign worker``,
and the web console is gunicorn (:mod:`campaign.demo.web`), each in its own process and
session (``start_new_session``): a Ctrl-C in the terminal reaches the demo alone, which then
stops them in order (dispatcher first, so nothing new is queued; the worker finishes the batch
in hand; the web console last) instead of everyone racing to exit. Their output goes to log
files in the instance folder so the terminal shows only the camp.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from redis import Redis
from rq import Worker

from campaign.errors import CampaignError

COMMAND = "import sys; from campaign.commands import main; sys.exit(main())"
STOP_TIMEOUT = 10.0  # seconds a process has to exit after SIGTERM before SIGKILL


class EngineProcessError(CampaignError):
    """An engine process could not start or died during the demo."""


@dataclass
class EngineProcess:
    """One running ``campaign <name>`` process and the log it writes."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    _handle: IO[bytes] | None = field(default=None, repr=False)
    stopped: bool = False  # stopped on purpose: its exit is no failure

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 15) -> str:
        """Return the end of the process's log, to say why it stopped."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Ask the process to stop (SIGTERM), kill it if it does not, and reap it.

        A process that does not stop in time is killed with its whole session (gunicorn's
        worker, a forked job), so nothing it started is left behind.
        """
        self.stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own session: pgid == pid
                self.process.wait()
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        return self.process.returncode


def start(
    name: str,
    env: Mapping[str, str],
    log_dir: Path,
    command: Sequence[str] = (),
    *,
    argv: Sequence[str] = (),
    pass_fds: Sequence[int] = (),
) -> EngineProcess:
    """Start ``campaign <command>`` (default: ``campaign <name>``), or ``argv`` when given,
    with ``env``; its output goes to ``log_dir/<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    handle = open(log, "wb")  # noqa: SIM115 - closed by EngineProcess.stop
    try:
        process = subprocess.Popen(
            list(argv) or [sys.executable, "-c", COMMAND, *(command or [name])],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    except OSError as exc:
        handle.close()
        raise EngineProcessError(f"cannot start '{name}': {exc}") from exc
    return EngineProcess(name, process, log, handle)


@dataclass
class Engine:
    """The dispatcher, the worker(s) and the web console of one demo run."""

    processes: list[EngineProcess] = field(default_factory=list)

    def check(self) -> None:
        """Raise :class:`EngineProcessError` if a process has exited unasked."""
        for one in self.processes:
            code = one.process.poll()
            if code is not None and not one.stopped:
                raise EngineProcessError(
                    f"'{one.name}' (pid {one.pid}) exited with status {code}; "
                    f"the end of {one.log}:\n{one.tail()}"
                )

    def wait_for_workers(self, redis: Redis, timeout: float = 30.0) -> None:
        """Wait until every worker has registered with Redis (it then listens on its queues)."""
        pids = {p.pid for p in self.processes if p.name.startswith("worker")}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            if pids <= {w.pid for w in Worker.all(connection=redis)}:
                return
            time.sleep(0.05)
        raise EngineProcessError(
            f"the workers did not start within {timeout:g} s; see the logs in "
            f"{self.processes[0].log.parent}"
        )

    def start(self, env: Mapping[str, str], log_dir: Path, *, workers: int = 1) -> None:
        """Start one dispatcher and ``workers`` workers sharing ``env`` (clock, Redis,
        database). Each process joins :attr:`processes` as soon as it runs, so :meth:`stop`
        reaches it even if starting the next one is interrupted."""
        self.processes.append(start("dispatcher", env, log_dir))
        for number in range(1, workers + 1):
            name = "worker" if workers == 1 else f"worker-{number}"
            self.processes.append(start(name, env, log_dir, ["worker"]))

    def add(self, process: EngineProcess) -> EngineProcess:
        """Count ``process`` (the web console) among the run's, so :meth:`stop` reaches it."""
        self.processes.append(process)
        return process

    def stop(self, keep: Collection[str] = ()) -> None:
        """Stop the processes in the order they started: the dispatcher first (nothing new is
        queued), then the worker, then the web console; all but those named in ``keep``."""
        for one in self.processes:
            if one.name not in keep:
                one.stop()


def child_env(settings: Mapping[str, object]) -> dict[str, str]:
    """Return this process's environment with ``CAMPAIGN_<KEY>`` set for each setting."""
    env = dict(os.environ)
    for key, value in settings.items():
        env[f"CAMPAIGN_{key}"] = str(value)
    return env
