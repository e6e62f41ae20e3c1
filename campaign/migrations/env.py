"""Alembic's entry point: migrate the database named by the config, or the app's DATABASE_URL.

``campaign.migrations.alembic_config`` passes ``database_url`` in ``config.attributes``; without
it the URL comes from ``create_app()``, that is defaults < ``instance/config.py`` <
``CAMPAIGN_*`` variables.
"""

from __future__ import annotations

from alembic import context

import campaign.models  # noqa: F401  (registers every table on Base.metadata)
from campaign.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    from campaign import create_app

    app = create_app()
    app.extensions["campaign.db"].engine.dispose()
    return str(app.config["DATABASE_URL"])


def run_migrations_offline() -> None:
    """Print the SQL (``campaign db upgrade --sql``), for a DBA to review or run."""
    url = _database_url()
    context.configure(
        target_metadata=target_metadata,
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the database over a connection of its own."""
    engine = make_engine(_database_url())
    try:
        with engine.connect() as connection:
            # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
            context.configure(
                target_metadata=target_metadata,
                connection=connection,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
