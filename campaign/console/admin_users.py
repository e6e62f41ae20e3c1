"""Managing console users: create, change role, deactivate and reactivate, reset a password.

Service functions (no Flask): the admin views call them and commit. Every refusal is a
:class:`UserError` whose message says what to do. Two guards keep the console reachable: an
admin cannot demote or deactivate themselves, and the last active admin stays an admin.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.errors import CampaignError, NotFound
from campaign.models import Advisor, Role, User

MIN_PASSWORD = 8
NEW_ADVISOR = "new"
"""The advisor choice that creates an Advisor named after the user."""


class UserError(CampaignError):
    """A user change that cannot be made; the message says why."""


@dataclass(frozen=True)
class AdvisorChoice:
    """An advisor a user can be linked to, and who is linked to it now (if anyone)."""

    id: int
    name: str
    username: str | None


def advisor_choices(session: Session) -> list[AdvisorChoice]:
    """Return every advisor with the username linked to it, by name."""
    rows = session.execute(
        select(Advisor.id, Advisor.name, User.username)
        .outerjoin(User, User.advisor_id == Advisor.id)
        .order_by(Advisor.name, Advisor.id)
    )
    return [AdvisorChoice(i, name, username) for i, name, username in rows]


def check_password(password: str) -> str:
    """Return ``password`` if it is long enough.

    :raises UserError: when it is shorter than :data:`MIN_PASSWORD`.
    """
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
    return password


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(role.value for role in Role)
        raise UserError(f"unknown role '{value}'; choose one of {names}") from None


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def _advisor_id(
    session: Session, choice: str, role: Role, name: str, user: User | None
) -> int | None:
    """Resolve the advisor choice of a form: ``""`` (none), ``"new"``, or an advisor id."""
    choice = choice.strip()
    if not choice:
        if role is Role.ADVISOR:
            raise UserError("an advisor user needs an advisor to be (choose one or 'new')")
        return None
    if choice == NEW_ADVISOR:
        advisor = Advisor(name=name)
        session.add(advisor)
        session.flush()
        return advisor.id
    if not choice.isdigit() or session.get(Advisor, int(choice)) is None:
        raise UserError(f"advisor {choice} does not exist")
    holder = session.scalar(select(User).where(User.advisor_id == int(choice)))
    if holder is not None and holder is not user:
        raise UserError(f"advisor {choice} is already linked to user '{holder.username}'")
    return int(choice)


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    advisor: str = "",
) -> User:
    """Create a console user.

    :param advisor: ``""`` for none, ``"new"`` to create an Advisor named after the user, or
        the id of an advisor no other user is linked to. Advisor users need one.
    :raises UserError: for a taken or empty username, a short password, a bad role or advisor.
    """
    username = username.strip()
    if not username or len(username) > 80 or any(ch.isspace() for ch in username):
        raise UserError("the username must be 1 to 80 characters without spaces")
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise UserError(f"user '{username}' already exists")
    chosen = _role(role)
    name = display_name.strip()[:200] or username
    user = User(
        username=username,
        display_name=name,
        role=chosen,
        advisor_id=_advisor_id(session, advisor, chosen, name, None),
    )
    user.set_password(check_password(password))
    session.add(user)
    session.flush()
    return user


def _other_active_admins(session: Session, user: User) -> int:
    count = session.scalar(
        select(func.count(User.id)).where(
            User.role == Role.ADMIN, User.active.is_(True), User.id != user.id
        )
    )
    return int(count or 0)


def change_role(
    session: Session, user_id: int, role: str, advisor: str, *, acting: User
) -> User:
    """Give a user another role (and advisor link, see :func:`create_user`).

    :raises UserError: when an admin would demote themselves or the last active admin.
    """
    user = _user(session, user_id)
    chosen = _role(role)
    if user.role is Role.ADMIN and chosen is not Role.ADMIN:
        if user.id == acting.id:
            raise UserError("you cannot take the admin role from yourself; ask another admin")
        if user.active and not _other_active_admins(session, user):
            raise UserError(f"'{user.username}' is the last active admin; make another first")
    user.advisor_id = _advisor_id(session, advisor, chosen, user.display_name, user)
    user.role = chosen
    session.flush()
    return user


def set_active(session: Session, user_id: int, active: bool, *, acting: User) -> User:
    """Deactivate (they are signed out at their next request) or reactivate a user.

    :raises UserError: when an admin would deactivate themselves or the last active admin.
    """
    user = _user(session, user_id)
    if not active:
        if user.id == acting.id:
            raise UserError("you cannot deactivate yourself; ask another admin")
        if user.role is Role.ADMIN and not _other_active_admins(session, user):
            raise UserError(f"'{user.username}' is the last active admin; make another first")
    user.active = active
    session.flush()
    return user


def reset_password(session: Session, user_id: int, password: str = "") -> tuple[User, str | None]:
    """Set a user's password: the one given, or a new random one.

    :returns: the user and the generated password (``None`` when one was given), to be shown
        once to the admin and never stored in clear.
    """
    user = _user(session, user_id)
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    user.set_password(check_password(password))
    session.flush()
    return user, generated
