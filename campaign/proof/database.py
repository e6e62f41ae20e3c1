"""A fresh database per run: a new PostgreSQL schema (or a SQLite file), migrated to head.

The schema is private to the run, so a run never sees another's rows and several runs (and the
test suite) can share one server. It is dropped afterwards unless the caller keeps it.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import make_url, text

from campaign import migrations
from campaign.db import make_engine

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def with_query(url: str, **params: str) -> str:
    """Return ``url`` with ``params`` added to its query (``options``, ``application_name``)."""
    return make_url(url).update_query_dict(params).render_as_string(hide_password=False)


@contextmanager
def fresh_database(
    kind: str, postgres_url: str, keep: bool = False, *, prefix: str = "bench_engine"
) -> Iterator[str]:
    """Yield the URL of a new, migrated database: a PostgreSQL schema or a SQLite file.

    :param kind: ``postgresql`` (a schema named ``<prefix>_<random>`` on ``postgres_url``) or
        ``sqlite`` (a file in a temporary folder).
    :param keep: leave the PostgreSQL schema in place afterwards (to look at the rows).
    """
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"{prefix.replace('_', '-')}-") as folder:
            url = f"sqlite:///{folder}/bench.db"
            migrations.upgrade(url)
            yield url
        return
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        rendered = with_query(postgres_url, options=f"-csearch_path={schema}")
        migrations.upgrade(rendered)
        yield rendered
    finally:
        if not keep:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def schema_of(url: str) -> str | None:
    """Return the schema a URL made by :func:`fresh_database` points at (None for SQLite)."""
    options = make_url(url).query.get("options")
    text_options = options if isinstance(options, str) else ""
    prefix = "-csearch_path="
    return text_options[len(prefix) :] if text_options.startswith(prefix) else None
