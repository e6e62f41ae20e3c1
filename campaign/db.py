"""The database layer: plain SQLAlchemy 2.0, usable with or without Flask.

Workers and the dispatcher build an engine with :func:`make_engine` and a session with
:func:`make_sessionmaker`; the web app and the CLI get theirs through :func:`init_app`. Nothing
connects at import time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import (
    DateTime,
    Dialect,
    Engine,
    Enum,
    Integer,
    MetaData,
    any_,
    create_engine,
    event,
    literal,
    make_url,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

EXTENSION_KEY = "campaign.db"

# Stable constraint names, so that Alembic migrations can name what they drop or alter and the
# names are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of every model; its metadata is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Return the current instant as an aware UTC datetime (column defaults use it)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and always read back as an aware UTC datetime.

    PostgreSQL keeps ``timestamptz`` natively; SQLite has no timezone type and would hand back
    naive values, which compare wrongly against aware ones. Naive datetimes are refused on the
    way in: their meaning (local? UTC?) is a guess we do not make.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _set_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Turn on what SQLite leaves off: foreign keys, WAL (readers do not block the writer) and a
    busy timeout (a second process waits for the lock instead of failing at once)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``).

    :param echo: log every SQL statement (debugging).
    :param kwargs: passed to :func:`sqlalchemy.create_engine` (workers pass ``poolclass``).
    """
    options: dict[str, Any] = {"echo": echo}
    if make_url(url).get_backend_name() != "sqlite":
        # A pooled PostgreSQL connection may have been closed by the server or a proxy.
        options["pool_pre_ping"] = True
    engine = create_engine(url, **options | kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory used everywhere (objects stay readable after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@dataclass
class Database:
    """What :func:`init_app` keeps in ``app.extensions``."""

    engine: Engine
    sessionmaker: sessionmaker[Session]


def init_app(app: Flask) -> None:
    """Create the app's engine from ``DATABASE_URL`` and close the context's session on teardown."""
    engine = make_engine(app.config["DATABASE_URL"], echo=bool(app.config.get("DATABASE_ECHO")))
    app.extensions[EXTENSION_KEY] = Database(engine=engine, sessionmaker=make_sessionmaker(engine))
    app.teardown_appcontext(_close_session)


def database(app: Flask | None = None) -> Database:
    """Return the :class:`Database` of ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    db: Database = target.extensions[EXTENSION_KEY]
    return db


def get_session() -> Session:
    """Return the session of the current app context, opening it on first use.

    It is closed (uncommitted work rolled back) when the context ends; callers commit.
    """
    if "db_session" not in g:
        g.db_session = database().sessionmaker()
    session: Session = g.db_session
    return session


def _close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def session_scope(app: Flask | None = None) -> Iterator[Session]:
    """Open a session for one unit of work: commit on success, roll back on error, always close.

    For the CLI and scripts, where there is no request to tie the session to.
    """
    session = database(app).sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def enum_type(enum_class: type[enum.StrEnum], length: int = 20) -> Enum:
    """Store a ``StrEnum`` as its string value in a plain ``VARCHAR`` (no native enum type).

    Plain strings keep migrations simple on both databases (adding a state is no ``ALTER TYPE``);
    SQLAlchemy still refuses a value that is not a member.
    """
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


def among(session: Session, column: Any, ids: Iterable[int]) -> Any:
    """Return ``column`` among the integers ``ids``.

    On PostgreSQL that is ``column = ANY(:array)``: one parameter whatever the number of ids,
    so the statement text stays the same from batch to batch (the driver caches its parsing;
    an ``IN`` of 500 placeholders cost the send path a fifth of its time to build and parse).
    The array goes as a typed parameter, not as a text literal cast in SQL: with the cast the
    drain of 50,000 rows ran at half the speed. Elsewhere a plain ``IN``.
    """
    values = sorted(set(ids))
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(values, type_=postgresql.ARRAY(Integer)))
    return column.in_(values)


def array_literal(values: Iterable[Any]) -> str:
    """Return ``values`` as a PostgreSQL array literal (``{1,2,"a \\"b\\"",NULL}``), for
    a parameter cast to an array type in SQL.

    The driver's own array adaptation looks at every element's type; for the hundreds of
    values of a batch, joining strings is several times cheaper. Strings (and anything that is
    not an int or None: datetimes, enum members) are quoted and escaped, so no value can end
    the array or be read as ``NULL``.
    """
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
        elif isinstance(value, int) and not isinstance(value, bool):
            parts.append(str(value))
        else:
            if isinstance(value, datetime):
                if value.tzinfo is None:
                    raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
                text = value.isoformat()
            elif isinstance(value, enum.Enum):
                text = str(value.value)
            else:
                text = str(value)
            parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"
