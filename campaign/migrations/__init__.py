"""Alembic migrations, driven from code: no ``alembic.ini`` at the repository root.

:func:`alembic_config` points Alembic at this folder and hands ``env.py`` the database URL.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import make_url

from campaign.db import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic config for this folder, bound to the database at ``url``.

    The URL travels in ``attributes`` rather than the ``sqlalchemy.url`` option because the
    option is run through ``configparser`` interpolation, which trips on ``%`` in passwords.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head", *, sql: bool = False) -> None:
    """Migrate the database at ``url`` up to ``revision``; with ``sql``, print the SQL instead."""
    command.upgrade(alembic_config(url), revision, sql=sql)


def downgrade(url: str, revision: str, *, sql: bool = False) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` drops every table)."""
    command.downgrade(alembic_config(url), revision, sql=sql)


def head_revision() -> str | None:
    """Return the newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str) -> str | None:
    """Return the revision the database at ``url`` is at (``None``: never migrated)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def display_url(url: str) -> str:
    """Return ``url`` fit to print: the password masked."""
    return make_url(url).render_as_string(hide_password=True)
