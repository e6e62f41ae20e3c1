"""The demo's web console: gunicorn serving ``create_app()`` on 127.0.0.1, a child like the rest.

The server is the one production runs the console under (gunicorn, here one worker with a few
threads), started as one more engine process: its own session, its output in
``instance/demo/web.log``, stopped with the others. It shares their settings through the same
``CAMPAIGN_*`` environment (database, Redis, the warped clock), so the console's "now" is the
camp's.

The demo binds the port itself (the requested one, else the next free one) and hands the bound
socket to gunicorn (``--bind fd://N``): the port it prints is the one served, and no other
program can take it in between.
"""

from __future__ import annotations

import errno
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path

from campaign.demo.processes import EngineProcess, EngineProcessError, start

HOST = "127.0.0.1"  # the demo's console is for this machine only
PORT_TRIES = 20  # ports tried from the requested one up
THREADS = 4  # request threads of the one gunicorn worker
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def bind_listener(port: int, host: str = HOST, tries: int = PORT_TRIES) -> socket.socket:
    """Return a socket bound to ``host`` on ``port`` or the next free port after it.

    :raises EngineProcessError: when none of ``tries`` ports is free.
    """
    for candidate in range(port, min(port + tries, 65536)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            sock.bind((host, candidate))
        except OSError as exc:
            sock.close()
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise EngineProcessError(f"cannot listen on {host}:{candidate}: {exc}") from exc
            continue
        return sock
    raise EngineProcessError(
        f"no free port on {host} from {port} to {port + tries - 1}; pass another with --port"
    )


def start_web(env: Mapping[str, str], log_dir: Path, listener: socket.socket) -> EngineProcess:
    """Start gunicorn on ``listener`` (bound, not yet listening) with ``env``."""
    fd = listener.fileno()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"fd://{fd}",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        str(THREADS),
        "--graceful-timeout",
        "5",
        "--access-logfile",
        "-",
        *_no_control_socket(),
        "campaign:create_app()",
    ]
    # Plain HTTP on 127.0.0.1: a browser drops Secure cookies there, so sign-in would not stick.
    web_env = {**env, "CAMPAIGN_SECURE_COOKIES": "false"}
    return start("web", web_env, log_dir, argv=argv, pass_fds=(fd,))


def _no_control_socket() -> list[str]:
    """Gunicorn 25.1+ opens a control socket under the user's home by default: not for a demo."""
    major, minor = (int(part) for part in version("gunicorn").split(".")[:2])
    return ["--no-control-socket"] if (major, minor) >= (25, 1) else []


def url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://{host}:{port}/"


def wait_for_web(url: str, check: Callable[[], None], timeout: float = 60.0) -> None:
    """Wait until the console answers its health check; ``check`` raises if a process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check()
        try:
            with LOCAL.open(f"{url}healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise EngineProcessError(f"the web console did not answer at {url} within {timeout:g} s")
