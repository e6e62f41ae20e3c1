"""Gunicorn settings for the Campaign web app (console, API, unsubscribe, probes, metrics).

    gunicorn -c deploy/gunicorn.conf.py 'campaign:create_app()'

The app reads its own settings from ``CAMPAIGN_*`` variables (see campaign.env.example); these
are the server's. Each may be changed from the environment, or with gunicorn's own
``GUNICORN_CMD_ARGS``. Run it behind a reverse proxy (TLS, buffering of slow clients).
"""

import multiprocessing
import os

# Where to listen: CAMPAIGN_WEB_BIND, else $PORT on every interface (platforms that set it),
# else the loopback for a reverse proxy on the same host.
bind = os.environ.get("CAMPAIGN_WEB_BIND") or (
    f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000"
)

# Processes × threads: the console and API wait on the database, so threads pay. Each process
# holds its own SQLAlchemy pool (5 connections, up to 10 more on bursts): count them against
# PostgreSQL's max_connections.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(multiprocessing.cpu_count() * 2 + 1, 8))
worker_class = "gthread"
threads = int(os.environ.get("CAMPAIGN_WEB_THREADS") or 4)

timeout = 60  # a request stuck this long gets its worker restarted
graceful_timeout = 30  # on SIGTERM / HUP, requests in flight get this long to finish
keepalive = 5
max_requests = 2000  # recycle workers now and then (a slow leak never grows old)
max_requests_jitter = 200
preload_app = False  # each worker builds its own app and database pool after the fork

# Logs to stdout/stderr: journald (systemd) or the platform collects them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("CAMPAIGN_WEB_LOG_LEVEL", "info")

# Trust X-Forwarded-Proto / -For only from the proxy in front.
forwarded_allow_ips = os.environ.get("CAMPAIGN_FORWARDED_ALLOW_IPS", "127.0.0.1")
