"""Fixtures: an app on a real, migrated database, run once on SQLite and once on PostgreSQL.

PostgreSQL comes from ``CAMPAIGN_TEST_POSTGRES_URL`` (default: the local server, database
``test``). Each test gets its own schema there, so tests never see each other's rows and several
runs can share the server. When the server cannot be reached the PostgreSQL tests fail (they are
never skipped): a green run must mean both databases were tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from campaign import create_app, migrations
from campaign.db import database, make_engine

POSTGRES_URL_VARIABLE = "CAMPAIGN_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

SAMPLE_JOURNEY = (Path(__file__).parent / "data" / "sample-journey.yaml").read_text(
    encoding="utf-8"
)
"""The journey of issue 2, lint-clean as written: the contract for the core keys."""


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """Return the PostgreSQL server URL, failing every PostgreSQL test if it is unreachable."""
    url = os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL
    engine = make_engine(url, connect_args={"connect_timeout": 5})
    problem = None
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        problem = str(exc.orig).strip()
    finally:
        engine.dispose()
    if problem is not None:
        pytest.fail(
            f"PostgreSQL is unreachable at {migrations.display_url(url)}:\n{problem}\n"
            f"Start it (bash .ci/run does) or set {POSTGRES_URL_VARIABLE} to a server.",
            pytrace=False,
        )
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'campaign.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = make_engine(server_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def make_test_app(database_url: str, instance_path: Path) -> Flask:
    """Build an app on ``database_url`` whose instance folder is private to the test."""
    return create_app(
        {"TESTING": True, "DATABASE_URL": database_url}, instance_path=str(instance_path)
    )


@pytest.fixture
def empty_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """Yield an app whose database has no tables yet (for testing ``db upgrade``)."""
    app = make_test_app(database_url, tmp_path / "instance")
    yield app
    database(app).engine.dispose()


@pytest.fixture
def app(empty_app: Flask, database_url: str) -> Flask:
    """Return an app on a database migrated to the newest revision."""
    migrations.upgrade(database_url)
    return empty_app


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """Yield a session on the app's database; the test commits when it wants rows to persist."""
    db_session = database(app).sessionmaker()
    yield db_session
    db_session.close()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Return a CLI runner whose commands use ``app`` (invoke ``campaign.commands.main``)."""
    return app.test_cli_runner()


@pytest.fixture
def journey_file(tmp_path: Path) -> Path:
    """Write the issue's sample journey (lint-clean) and return its path."""
    path = tmp_path / "journey.yaml"
    path.write_text(SAMPLE_JOURNEY, encoding="utf-8")
    return path
