"""The web app's probes: ``/healthz`` (liveness) and ``/readyz`` (database and Redis answer)."""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask

from campaign.db import database
from tests.e2e.conftest import RedisServer, free_port
from tests.ops.helpers import closed_port_url, make_app


def test_healthz_answers_without_touching_the_database(tmp_path: Path) -> None:
    app = make_app(tmp_path / "instance", DATABASE_URL=f"sqlite:///{tmp_path}/none/missing.db")
    try:
        response = app.test_client().get("/healthz")
    finally:
        database(app).engine.dispose()
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_when_the_database_and_redis_answer(
    app: Flask, redis_server: RedisServer
) -> None:
    app.config["REDIS_URL"] = redis_server.url
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["status"] == "ok"
    assert report["checks"]["database"]["ok"] is True
    assert report["checks"]["database"]["detail"] in {"sqlite", "postgresql"}
    assert report["checks"]["redis"] == {
        "ok": True,
        "detail": "PONG",
        "ms": report["checks"]["redis"]["ms"],
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_when_redis_is_down_and_says_so_quickly(app: Flask) -> None:
    app.config["REDIS_URL"] = closed_port_url()
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    report = response.get_json()
    assert report["status"] == "unavailable"
    assert report["checks"]["database"]["ok"] is True
    assert report["checks"]["redis"]["ok"] is False
    assert "ConnectionError" in report["checks"]["redis"]["detail"]


def test_readyz_is_503_when_the_database_is_down(tmp_path: Path, redis_server: RedisServer) -> None:
    down = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    app = make_app(tmp_path / "instance", DATABASE_URL=down, REDIS_URL=redis_server.url)
    try:
        response = app.test_client().get("/readyz")
    finally:
        database(app).engine.dispose()
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"]["ok"] is False
    assert "OperationalError" in checks["database"]["detail"]
    assert checks["redis"]["ok"] is True


def test_readyz_without_a_configured_redis_checks_the_database_only(app: Flask) -> None:
    app.config.pop("REDIS_URL", None)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"]["detail"].startswith("not configured")


def test_readyz_reports_a_sentinel_setting_without_its_master_name(app: Flask) -> None:
    app.config["REDIS_SENTINELS"] = "127.0.0.1:26379"
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "REDIS_SENTINEL_MASTER" in response.get_json()["checks"]["redis"]["detail"]
