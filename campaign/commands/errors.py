"""Turn errors a user can cause into a one-line message and exit status 1, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from alembic.util.exc import CommandError
from flask import current_app
from sqlalchemy.exc import OperationalError, ProgrammingError

from campaign.errors import CampaignError
from campaign.migrations import display_url

P = ParamSpec("P")
R = TypeVar("R")


def database_problem(exc: OperationalError | ProgrammingError) -> str:
    """Say what went wrong with the database and the usual fix (it is down, or not migrated)."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    return (
        f"the database {display_url(current_app.config['DATABASE_URL'])} cannot be used: "
        f"{reason}. Check that it is running and that CAMPAIGN_DATABASE_URL names it; "
        "if its tables are missing, run 'campaign db upgrade'"
    )


def reports_user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so user errors print ``Error: <message>`` and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (CampaignError, CommandError) as exc:
            raise click.ClickException(str(exc)) from exc
        except (OperationalError, ProgrammingError) as exc:
            raise click.ClickException(database_problem(exc)) from exc

    return wrapper


def read_source(path: str) -> str:
    """Return a journey file's text, or stop with a message saying why it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
