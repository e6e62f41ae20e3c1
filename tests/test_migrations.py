"""Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect

import campaign.models  # noqa: F401  (registers the tables)
from campaign import migrations
from campaign.db import Base, database


def schema_differences(app: Flask) -> list[object]:
    with database(app).engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_migrated_schema_matches_the_models(app: Flask) -> None:
    assert schema_differences(app) == []


def test_migrations_are_at_head(app: Flask, database_url: str) -> None:
    assert migrations.current_revision(database_url) == migrations.head_revision()


def test_downgrade_to_base_drops_every_table_and_upgrade_restores_them(
    app: Flask, database_url: str
) -> None:
    migrations.downgrade(database_url, "base")
    with database(app).engine.connect() as connection:
        assert inspect(connection).get_table_names() == ["alembic_version"]
    migrations.upgrade(database_url)
    assert schema_differences(app) == []


def test_every_model_table_is_created(app: Flask) -> None:
    with database(app).engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_without_a_url_migrations_use_the_apps_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'from-environment.db'}"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    command.upgrade(migrations.alembic_config(), "head")
    assert migrations.current_revision(url) == migrations.head_revision()
